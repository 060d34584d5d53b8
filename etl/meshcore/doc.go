// Package meshcore decodes MeshCore radio packets the way today's CoreScope
// ingestor does (spec/decoder.md with the changes of spec/head.md §2.5,
// §2.14 and §2.18): bytes in, decoded packet out, with no I/O, no logging
// and no global mutable state.
//
// A Decoder parses the header, the transport codes and the path, decodes the
// payload of every payload type (including the extended ACK, the CONTROL
// node-discovery fields and RAW_CUSTOM), decrypts channel messages with the
// keys of a Keyring, verifies advert signatures when asked to, matches
// transport-scoped packets against the region keys of Regions, and renders
// the exact decoded_json document, the column values and the content hash
// that the database contract requires. The reference's quirks (the DEV-n
// entries of the spec) are reproduced on purpose: the test vectors
// (testdata/decoder-vectors-head.json, and the seed-era file for the
// outputs that did not change) pin them.
//
// Channels: BuiltinKeys holds the Public channel's key, which CoreScope
// knows without configuration; a Keyring tries it after the configured keys
// and drops it when a configured key has its name. Channel names are
// normalised (NormalizeChannelName: "public" in any case is "Public").
//
// Deliberate difference: where CoreScope tries channel and region keys in
// Go map order, this package uses a fixed order (Keyring: matching channel
// hash byte first; Regions: configured order), so results are deterministic
// when two keys fit.
//
// Files:
//
//   - decode.go: Decoder, Error, hex/header/path parsing and assembly
//   - payload.go: the per-type payload decoders and their JSON
//   - advert.go: adverts, their validation and signature check
//   - channel.go: Keyring, channel keys, the built-in Public key, name
//     normalisation and GRP_TXT/GRP_DATA decryption
//   - region.go: Regions, transport-code region keys and scope matching
//   - hash.go: the content hash
//   - packet.go: the Packet and Advert results and their JSON summary
//   - json.go: the append-based JSON writer (byte-equal to encoding/json)
package meshcore
