package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Outcomes of a Client request that callers branch on.
var (
	// ErrNoDaemon means that nothing listens at the daemon's address (or
	// that it has none); errors.Unwrap of the error says why.
	ErrNoDaemon = errors.New("no daemon answers")
	// ErrConflict means that a run of the job is still going (the daemon
	// answered 409 with the skipped Run).
	ErrConflict = errors.New("conflict")
)

// clientDialTimeout bounds connecting to the daemon.
const clientDialTimeout = 3 * time.Second

// noDaemonError says why no daemon answered; errors.Is(err, ErrNoDaemon).
type noDaemonError struct{ cause error }

func (e *noDaemonError) Error() string        { return ErrNoDaemon.Error() + ": " + e.cause.Error() }
func (e *noDaemonError) Is(target error) bool { return target == ErrNoDaemon }
func (e *noDaemonError) Unwrap() error        { return e.cause }

// Client calls the daemon's HTTP endpoint (Server) with its credentials.
type Client struct {
	base                            string // http://host:port, "" when listen is empty
	username, password, bearerToken string
	hc                              *http.Client
}

// NewClient returns a client of the daemon whose endpoint opts configure:
// it calls opts.Listen ("" when the daemon serves no HTTP) with opts'
// credentials; a wildcard host (":9108", "0.0.0.0:9108") is reached on
// loopback.
func NewClient(opts ServerOptions) *Client {
	listen := opts.Listen
	c := &Client{username: opts.Username, password: opts.Password, bearerToken: opts.BearerToken, hc: &http.Client{
		Transport: &http.Transport{
			Proxy:       nil, // the daemon is local; never go through a proxy
			DialContext: (&net.Dialer{Timeout: clientDialTimeout}).DialContext,
		},
	}}
	if listen == "" {
		return c
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return c
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	c.base = "http://" + net.JoinHostPort(host, port)
	return c
}

// URL returns the daemon's base URL (http://host:port), "" when it serves
// no HTTP.
func (c *Client) URL() string { return c.base }

// Do sends a request without a body and decodes a 2xx JSON answer into
// out. It returns an error wrapping ErrNoDaemon when nothing listens,
// ErrConflict for a 409 with the skipped Run, and the daemon's message
// otherwise.
func (c *Client) Do(ctx context.Context, method, path string, out any) error {
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusConflict {
		// The skipped Run (a run is still going), not a refusal such as
		// {"error": "job … is disabled"}.
		var r Run
		if json.Unmarshal(body, &r) == nil && r.Result == ResultSkipped {
			return ErrConflict
		}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: unauthorized: check http.username/http.password or http.bearerToken", method, c.base+path)
	case resp.StatusCode/100 != 2:
		var e struct{ Error string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("%s %s: %s: %s", method, c.base+path, resp.Status, e.Error)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	return nil
}

// Post sends body as JSON and returns the daemon's response, whatever its
// status, for the caller to read and close: for an answer that streams. It
// returns an error wrapping ErrNoDaemon when nothing listens.
func (c *Client) Post(ctx context.Context, path string, body io.Reader) (*http.Response, error) {
	return c.send(ctx, http.MethodPost, path, body)
}

// send sends a request with the credentials, a body labelled as JSON.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	if c.base == "" {
		return nil, &noDaemonError{errors.New("http.listen is empty")}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.bearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.bearerToken)
	case c.username != "":
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isNoListener(err) {
			return nil, &noDaemonError{err}
		}
		return nil, err
	}
	return resp, nil
}

// isNoListener reports whether err means nothing accepts connections at
// the address, as opposed to a daemon that answered badly.
func isNoListener(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) ||
		(errors.As(err, &op) && op.Op == "dial")
}

// WriteTable writes list as an aligned table, one job a line, with its
// schedule ("chained" for a job that runs only after another), next run
// and last run.
func WriteTable(w io.Writer, list []JobStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tENABLED\tRUNNING\tNEXT RUN\tLAST RUN\tRESULT\tROWS\tDURATION")
	for _, j := range list {
		sched := j.Schedule
		if sched == "" {
			sched = "-"
			for _, o := range list {
				if slices.Contains(o.Then, j.Name) {
					sched = "chained" // runs after a job that changed rows
					break
				}
			}
		}
		next, last, result, rows, dur := "-", "-", "-", "-", "-"
		if !j.Next.IsZero() {
			next = j.Next.Format(time.RFC3339)
		}
		if r := j.LastRun; r != nil {
			last, result, rows, dur = r.Started.Format(time.RFC3339), r.Result, fmt.Sprint(r.Rows), r.Duration().Round(time.Millisecond).String()
			if r.DryRun {
				result += " (dry run)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, sched, yesNo(j.Enabled), yesNo(j.Running), next, last, result, rows, dur)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteRun writes a one-line summary of r, then its detail and its error
// on lines of their own when it has them.
func WriteRun(w io.Writer, r Run) error {
	dry := ""
	if r.DryRun {
		dry = " (dry run)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s%s, %d rows in %s\n", r.Job, r.Result, dry, r.Rows, r.Duration().Round(time.Millisecond))
	if r.Detail != "" {
		fmt.Fprintf(&b, "  %s\n", r.Detail)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
