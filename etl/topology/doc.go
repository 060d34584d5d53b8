// Package topology resolves the hops of MeshCore paths to node public keys,
// the way CoreScope's writer does for the data its server reads
// (spec/head.md §2.8, §2.9). It is pure: no I/O of its own, standard
// library only.
//
//   - Index is a prefix index of node keys: every key under its prefixes of
//     2, 4, 6, 8, 12 and 16 hex characters, so a path hop of any of those
//     widths finds its candidates.
//   - Graph is the undirected neighbour graph (the neighbor_edges table).
//   - Resolver combines both: ResolvedPath renders observations.resolved_path
//     (unique prefixes, then adjacency to the previous resolved hop for
//     ambiguous ones), and Index.Edges yields the neighbour pairs one
//     observation contributes to neighbor_edges (unique prefixes only).
//   - Live holds the current Resolver behind an atomic pointer: the ingest
//     path reads it without locks, the neighborEdges job rebuilds and
//     publishes it from a Source (the database).
//
// Keys and hops are compared in lower case; every key a Resolver returns is
// lower case.
package topology
