package config

import (
	"fmt"
	"strings"
)

// Error reports every problem found while loading a config; callers detect
// it with errors.As (the daemon and check exit with status 2). Its message
// is one line per problem, each starting with the key path.
type Error struct {
	err error // errors.Join of the problems
}

// Error returns the problems, one per line.
func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the joined problems.
func (e *Error) Unwrap() error { return e.err }

// problems collects config errors, each prefixed with its key path.
type problems struct {
	errs []error
	// undecodable holds the key paths that failed to decode; later
	// problems under them would only repeat the first one.
	undecodable map[string]bool
}

func (p *problems) addf(path, format string, args ...any) {
	p.add(path, fmt.Errorf(format, args...))
}

func (p *problems) add(path string, err error) {
	for k := path; k != ""; {
		if p.undecodable[k] {
			return
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %w", path, err))
}

// addUndecodable records a key path that failed to decode.
func (p *problems) addUndecodable(path string, err error) {
	p.add(path, err)
	if p.undecodable == nil {
		p.undecodable = map[string]bool{}
	}
	p.undecodable[path] = true
}

// addFields adds the errors of a package's Validate, each "field: message"
// (errors.Join of them), under the key path prefix.
func (p *problems) addFields(prefix string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		field, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok {
			field, msg = "", e.Error()
		}
		p.addf(strings.TrimSuffix(prefix+"."+field, "."), "%s", msg)
	}
}

// addEach adds each of the joined errors err under the key path path.
func (p *problems) addEach(path string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.add(path, e)
		}
	} else if err != nil {
		p.add(path, err)
	}
}
