package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// serveDaemonHTTP runs the daemon's HTTP server (newHTTPServer, with its
// guards) at env's http.listen, over the job API of a scheduler built from
// env on a real database.
func serveDaemonHTTP(t *testing.T, env jobsEnv) *httpServer {
	t.Helper()
	db := openJobsDB(t, env.dbPath)
	reg := prometheus.NewRegistry()
	s, err := buildScheduler(env.cfg, db, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := env.cfg.HTTP
	srv, err := newHTTPServer(httpOptions{Listen: h.Listen, Username: h.Username, Password: h.Password, BearerToken: h.BearerToken},
		reg, s.Handler(), func() error { return nil }, func() readiness { return readiness{Ready: true} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("http server: %v", err)
		}
	})
	return srv
}

// call sends one request to addr and returns the status and body. host,
// when set, replaces the Host header; header holds more headers.
func call(t *testing.T, method, addr, path, host string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPRefusesCrossSiteRequests: what a web page the operator opens
// could send to the loopback listener (a cross-site form or fetch POST, a
// DNS-rebound read) is refused; our own CLI and same-origin calls work.
func TestHTTPRefusesCrossSiteRequests(t *testing.T) {
	addr := freePort(t)
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, addr), "")
	serveDaemonHTTP(t, env)
	_, port, _ := net.SplitHostPort(addr)
	const run = "/jobs/walCheckpoint/run"

	for _, tc := range []struct {
		name   string
		method string
		path   string
		host   string
		body   string
		header map[string]string
		want   int
	}{
		{"evil Origin", "POST", run, "", "", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", "POST", run, "", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", "POST", run, "", "", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"form POST", "POST", run, "", "a=b", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain POST", "POST", run, "", "{}", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"body without a type", "POST", run, "", "x", nil, http.StatusUnsupportedMediaType},
		{"foreign Host, metrics", "GET", "/metrics", "evil.example:" + port, "", nil, http.StatusMisdirectedRequest},
		{"foreign Host, jobs", "GET", "/jobs", "rebind.evil.example:" + port, "", nil, http.StatusMisdirectedRequest},
		{"foreign Host, run", "POST", run, "evil.example:" + port, "", nil, http.StatusMisdirectedRequest},
		{"loopback Host, wrong port", "GET", "/metrics", "127.0.0.1:1", "", nil, http.StatusMisdirectedRequest},
		{"localhost Host", "GET", "/jobs", "localhost:" + port, "", nil, http.StatusOK},
		{"LOCALHOST Host", "GET", "/jobs", "LOCALHOST:" + port, "", nil, http.StatusOK},
		{"[::1] Host", "GET", "/metrics", "[::1]:" + port, "", nil, http.StatusOK},
		{"same-origin POST", "POST", run, "", "", map[string]string{"Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"JSON POST", "POST", run, "", "{}", map[string]string{"Content-Type": "application/json; charset=utf-8"}, http.StatusOK},
		{"CLI-like POST", "POST", run, "", "", nil, http.StatusOK},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		if code, text := call(t, tc.method, addr, tc.path, tc.host, body, tc.header); code != tc.want {
			t.Errorf("%s: %s %s → %d, want %d: %s", tc.name, tc.method, tc.path, code, tc.want, text)
		}
	}

	// Our CLI still runs jobs through the daemon.
	out, _, err := runJobs(t, "run", "staleNodes", "-config", env.cfgPath)
	if err != nil || !strings.Contains(out, "staleNodes: success, ") {
		t.Errorf("jobs run through the daemon: %v\n%s", err, out)
	}
}

// TestHTTPDisabledJobNotRun: a job with enabled: false is not run through
// POST (409 naming the setting), and the CLI says why.
func TestHTTPDisabledJobNotRun(t *testing.T) {
	addr := freePort(t)
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, addr), `"jobs": {"staleObservers": {"enabled": false}}`)
	serveDaemonHTTP(t, env)

	code, body := call(t, "POST", addr, "/jobs/staleObservers/run", "", nil, nil)
	if code != http.StatusConflict || !strings.Contains(body, "enabled: false") {
		t.Errorf("POST a disabled job: %d %s, want 409 naming enabled: false", code, body)
	}
	code, body = call(t, "GET", addr, "/jobs/staleObservers/runs", "", nil, nil)
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("runs of the disabled job: %d %s, want none", code, body)
	}
	_, _, err := runJobs(t, "run", "staleObservers", "-config", env.cfgPath)
	if err == nil || !strings.Contains(err.Error(), "enabled: false") {
		t.Errorf("jobs run of a disabled job: %v, want an error naming enabled: false", err)
	}
	// Enabled jobs still run.
	if code, body := call(t, "POST", addr, "/jobs/walCheckpoint/run", "", nil, nil); code != http.StatusOK {
		t.Errorf("POST an enabled job: %d %s", code, body)
	}
}

// TestHTTPBearerSchemeCaseInsensitive: RFC 7235 auth schemes are
// case-insensitive.
func TestHTTPBearerSchemeCaseInsensitive(t *testing.T) {
	addr := freePort(t)
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q, "bearerToken": "tok3n"`, addr), "")
	serveDaemonHTTP(t, env)
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"Bearer tok3n", http.StatusOK},
		{"bearer tok3n", http.StatusOK},
		{"BEARER tok3n", http.StatusOK},
		{"bearer  tok3n", http.StatusOK},
		{"bearer tok3", http.StatusUnauthorized},
		{"Bearertok3n", http.StatusUnauthorized},
		{"Basic tok3n", http.StatusUnauthorized},
	} {
		if code, _ := call(t, "GET", addr, "/metrics", "", nil, map[string]string{"Authorization": tc.auth}); code != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, code, tc.want)
		}
	}
}

// TestHTTPServerTimeouts: the server bounds slow clients.
func TestHTTPServerTimeouts(t *testing.T) {
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, freePort(t)), "")
	s := serveDaemonHTTP(t, env).srv
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("timeouts: read header %v, read %v, write %v, idle %v; want all set",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
