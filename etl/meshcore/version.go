package meshcore

// DecoderVersion identifies what the decoder writes (decoded_json, columns,
// scopes). It changes whenever stored output would change, so that the
// reprocess job can re-decode stored packets once after an upgrade.
const DecoderVersion = "head-a06ac8ac.1"
