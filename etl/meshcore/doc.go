// Package meshcore decodes MeshCore radio packets the way CoreScope's
// reference ingestor does (spec/decoder.md): bytes in, decoded packet out,
// with no I/O, no logging and no global mutable state.
//
// A Decoder parses the header, the transport codes and the path, decodes the
// payload of every payload type, decrypts channel messages with the keys of a
// Keyring, verifies advert signatures when asked to, and renders the exact
// decoded_json document, the column values and the content hash that the
// database contract requires. The reference's quirks (the DEV-n entries of
// the spec) are reproduced on purpose: the test vectors pin them.
//
// Files:
//
//   - decode.go: Decoder, Error, hex/header/path parsing and assembly
//   - payload.go: the per-type payload decoders and their JSON
//   - advert.go: adverts, their validation and signature check
//   - channel.go: Keyring, channel keys and GRP_TXT/GRP_DATA decryption
//   - hash.go: the content hash
//   - packet.go: the Packet and Advert results and their JSON summary
//   - json.go: the append-based JSON writer (byte-equal to encoding/json)
package meshcore
