package jobs_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/corescope/etl/jobs"
)

// serve runs a Server with opts over h's scheduler and metrics, healthy and
// ready, on a free loopback port unless opts.Listen is set; it stops at
// the end of the test.
func serve(t *testing.T, h *harness, opts jobs.ServerOptions) *jobs.Server {
	t.Helper()
	return serveHealth(t, h, opts, func() error { return nil }, func() jobs.Readiness { return jobs.Readiness{Ready: true} })
}

// serveHealth is serve with the given health verdicts.
func serveHealth(t *testing.T, h *harness, opts jobs.ServerOptions, alive func() error, ready func() jobs.Readiness) *jobs.Server {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	srv, err := jobs.NewServer(opts, h.reg, h.s, alive, ready, nil)
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

// serverHarness is a running scheduler with one enabled job, "work", and
// one disabled job, "off".
func serverHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, jobs.Options{})
	h.add(t, jobs.Spec{Name: "work", Schedule: "@daily", Enabled: true,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) { return jobs.Result{Rows: 3}, nil })})
	h.add(t, jobs.Spec{Name: "off", Schedule: "@daily", Enabled: false,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) { return jobs.Result{}, nil })})
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
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

// TestServerRefusesCrossSiteRequests: what a web page the operator opens
// could send to the loopback listener (a cross-site form or fetch POST, a
// DNS-rebound read) is refused; our own client and same-origin calls work.
func TestServerRefusesCrossSiteRequests(t *testing.T) {
	h := serverHarness(t)
	addr := serve(t, h, jobs.ServerOptions{}).Addr()
	_, port, _ := net.SplitHostPort(addr)
	const run = "/jobs/work/run"

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
		{"client-like POST", "POST", run, "", "", nil, http.StatusOK},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		if code, text := call(t, tc.method, addr, tc.path, tc.host, body, tc.header); code != tc.want {
			t.Errorf("%s: %s %s → %d, want %d: %s", tc.name, tc.method, tc.path, code, tc.want, text)
		}
	}

	// Our client still runs jobs through the guards.
	var r jobs.Run
	if err := jobs.NewClient(jobs.ServerOptions{Listen: addr}).Do(context.Background(), http.MethodPost, run, &r); err != nil || r.Result != jobs.ResultSuccess {
		t.Errorf("run through the client: %+v, %v", r, err)
	}
}

// TestServerDisabledJobNotRun: a job with Enabled false is not run through
// POST (409 naming the setting), and the client says why.
func TestServerDisabledJobNotRun(t *testing.T) {
	h := serverHarness(t)
	addr := serve(t, h, jobs.ServerOptions{}).Addr()

	code, body := call(t, "POST", addr, "/jobs/off/run", "", nil, nil)
	if code != http.StatusConflict || !strings.Contains(body, "enabled: false") {
		t.Errorf("POST a disabled job: %d %s, want 409 naming enabled: false", code, body)
	}
	code, body = call(t, "GET", addr, "/jobs/off/runs", "", nil, nil)
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("runs of the disabled job: %d %s, want none", code, body)
	}
	var r jobs.Run
	err := jobs.NewClient(jobs.ServerOptions{Listen: addr}).Do(context.Background(), http.MethodPost, "/jobs/off/run", &r)
	if err == nil || errors.Is(err, jobs.ErrConflict) || !strings.Contains(err.Error(), "enabled: false") {
		t.Errorf("client run of a disabled job: %v, want an error naming enabled: false", err)
	}
	// Enabled jobs still run.
	if code, body := call(t, "POST", addr, "/jobs/work/run", "", nil, nil); code != http.StatusOK {
		t.Errorf("POST an enabled job: %d %s", code, body)
	}
}

// TestServerBearerSchemeCaseInsensitive: RFC 7235 auth schemes are
// case-insensitive.
func TestServerBearerSchemeCaseInsensitive(t *testing.T) {
	h := serverHarness(t)
	addr := serve(t, h, jobs.ServerOptions{BearerToken: "tok3n"}).Addr()
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

// TestServerHealthOpenBehindAuth: /healthz and /readyz serve their
// verdicts (503 when failing) without credentials; everything else needs
// them.
func TestServerHealthOpenBehindAuth(t *testing.T) {
	h := serverHarness(t)
	alive := errors.New("writer stuck")
	ready := jobs.Readiness{Reasons: []string{"source a: not connected"}}
	addr := serveHealth(t, h, jobs.ServerOptions{Username: "admin", Password: "pw"},
		func() error { return alive }, func() jobs.Readiness { return ready }).Addr()

	if code, body := call(t, "GET", addr, "/healthz", "", nil, nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "writer stuck") {
		t.Errorf("/healthz while failing: %d %s", code, body)
	}
	if code, body := call(t, "GET", addr, "/readyz", "", nil, nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "source a: not connected") {
		t.Errorf("/readyz while not ready: %d %s", code, body)
	}
	for _, path := range []string{"/metrics", "/jobs"} {
		if code, _ := call(t, "GET", addr, path, "", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, code)
		}
	}
	var list []jobs.JobStatus
	if err := jobs.NewClient(jobs.ServerOptions{Listen: addr, Username: "admin", Password: "pw"}).Do(context.Background(), http.MethodGet, "/jobs", &list); err != nil || len(list) != 2 {
		t.Errorf("GET /jobs with basic auth: %v, %v", list, err)
	}
}

// TestServerHealthy: a healthy, ready daemon answers 200 on both probes.
func TestServerHealthy(t *testing.T) {
	addr := serve(t, serverHarness(t), jobs.ServerOptions{}).Addr()
	if code, body := call(t, "GET", addr, "/healthz", "", nil, nil); code != http.StatusOK || !strings.Contains(body, `"alive": true`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := call(t, "GET", addr, "/readyz", "", nil, nil); code != http.StatusOK || !strings.Contains(body, `"ready": true`) || strings.Contains(body, "reasons") {
		t.Errorf("/readyz: %d %s", code, body)
	}
}

// TestServerOptionalRoutes: POST /import and /debug/pprof/ are served only
// when asked for.
func TestServerOptionalRoutes(t *testing.T) {
	h := serverHarness(t)
	imp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "imported") })
	on := serve(t, h, jobs.ServerOptions{PProf: true, Import: imp}).Addr()
	off := serve(t, h, jobs.ServerOptions{}).Addr()
	json := map[string]string{"Content-Type": "application/json"}
	if code, body := call(t, "POST", on, "/import", "", strings.NewReader("{}"), json); code != http.StatusOK || body != "imported" {
		t.Errorf("POST /import: %d %s", code, body)
	}
	if code, _ := call(t, "POST", off, "/import", "", strings.NewReader("{}"), json); code != http.StatusNotFound {
		t.Errorf("POST /import without a handler: %d, want 404", code)
	}
	if code, _ := call(t, "GET", on, "/debug/pprof/cmdline", "", nil, nil); code != http.StatusOK {
		t.Errorf("pprof on loopback: %d, want 200", code)
	}
	if code, _ := call(t, "GET", off, "/debug/pprof/cmdline", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("pprof off: %d, want 404", code)
	}
}

// TestServerBusyPort: a port in use fails NewServer, not Run.
func TestServerBusyPort(t *testing.T) {
	h := serverHarness(t)
	addr := serve(t, h, jobs.ServerOptions{}).Addr()
	if _, err := jobs.NewServer(jobs.ServerOptions{Listen: addr}, h.reg, h.s, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "http listen: ") {
		t.Errorf("NewServer on a busy port: %v", err)
	}
}

// TestServerTimeouts: the server bounds slow clients.
func TestServerTimeouts(t *testing.T) {
	s := serve(t, serverHarness(t), jobs.ServerOptions{}).HTTPServer()
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("timeouts: read header %v, read %v, write %v, idle %v; want all set",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
