package topology

import "encoding/json"

// ParseHops appends to dst the hops of a path_json value (a JSON array of
// hex strings such as ["46","A1B2"]) and reports whether it was one. "" and
// "null" are a path with no hops. The hops share pathJSON's memory.
//
// It reads the plain form the decoder writes without allocating and falls
// back to encoding/json for anything else (escapes, non-string elements);
// BenchmarkParseHops (3 hops, a shared 2-CPU host): 88 ns/op and 0 allocs
// against 1286 ns/op and 10 allocs with json.Unmarshal; it runs for every
// observation of the ingest path and of the neighborEdges job.
func ParseHops(dst []string, pathJSON string) ([]string, bool) {
	s := pathJSON
	if s == "" || s == "null" {
		return dst, true
	}
	start := len(dst)
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '[' {
		return parseHopsJSON(dst[:start], pathJSON)
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return dst, skipSpace(s, i+1) == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return parseHopsJSON(dst[:start], pathJSON)
		}
		j := i + 1
		for j < len(s) && s[j] != '"' && s[j] != '\\' && s[j] >= 0x20 {
			j++
		}
		if j >= len(s) || s[j] != '"' {
			return parseHopsJSON(dst[:start], pathJSON)
		}
		dst = append(dst, s[i+1:j])
		i = skipSpace(s, j+1)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
			continue
		}
		if i < len(s) && s[i] == ']' && skipSpace(s, i+1) == len(s) {
			return dst, true
		}
		return parseHopsJSON(dst[:start], pathJSON)
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// parseHopsJSON is the general path: any valid JSON array of strings.
func parseHopsJSON(dst []string, pathJSON string) ([]string, bool) {
	var hops []string
	if err := json.Unmarshal([]byte(pathJSON), &hops); err != nil {
		return dst, false
	}
	return append(dst, hops...), true
}
