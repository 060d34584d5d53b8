package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpOptions configure the daemon's HTTP listener.
type httpOptions struct {
	Listen      string // host:port; "" disables the listener
	Username    string // basic auth, with Password; empty = none
	Password    string
	BearerToken string       // alternative to basic auth; empty = none
	PProf       bool         // serve /debug/pprof/ (only on a loopback listener)
	Import      http.Handler // POST /import; nil = not served
}

// Timeouts of the HTTP server.
const (
	httpReadHeaderTimeout = 10 * time.Second // to read a request's headers
	httpReadTimeout       = 30 * time.Second // to read a whole request
	httpWriteTimeout      = 2 * time.Minute  // to write a response (longest pprof profile or trace, exclusive)
	httpIdleTimeout       = 2 * time.Minute  // keep-alive connection idle
)

// httpServer serves /metrics, /healthz, /readyz and the job control API.
type httpServer struct {
	opts  httpOptions
	srv   *http.Server
	ln    net.Listener
	log   *slog.Logger
	ready func() readiness
	alive func() error
}

// readiness is the /readyz verdict.
type readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
	Grace   bool     `json:"grace,omitempty"` // still in the startup grace period
}

// newHTTPServer binds the listener now, so that a busy port fails startup
// with a clear error before anything else starts.
func newHTTPServer(opts httpOptions, gatherer prometheus.Gatherer, jobs http.Handler, alive func() error, ready func() readiness, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	s := &httpServer{opts: opts, ln: ln, log: log, ready: ready, alive: alive}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if jobs != nil {
		mux.Handle("/jobs", jobs)
		mux.Handle("/jobs/", jobs)
	}
	if opts.Import != nil {
		mux.Handle("POST /import", opts.Import)
	}
	if opts.PProf {
		if isLoopback(ln.Addr()) {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		} else {
			log.Warn("pprof not served: the listener is not on loopback", "listen", ln.Addr().String())
		}
	}
	// Outermost first: a foreign Host and a cross-site POST are refused
	// before credentials are looked at.
	var h http.Handler = jsonPostOnly(mux)
	h = s.auth(h)
	h = http.NewCrossOriginProtection().Handler(h)
	if isLoopback(ln.Addr()) {
		h = loopbackHostOnly(ln.Addr().(*net.TCPAddr).Port, h)
	}
	s.srv = &http.Server{
		Handler: h,
		// Requests carry no body worth waiting for. A job run lifts the
		// write deadline for itself (jobs.Scheduler.Handler) and waits
		// as long as the job's timeout; pprof refuses a profile or trace
		// of WriteTimeout or longer.
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr returns the bound address.
func (s *httpServer) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down within 5 s.
func (s *httpServer) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("http listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// auth enforces basic or bearer auth when configured. Health endpoints stay
// open so that a supervisor can probe them without credentials.
func (s *httpServer) auth(next http.Handler) http.Handler {
	if s.opts.Username == "" && s.opts.BearerToken == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if s.opts.BearerToken != "" {
			if tok, ok := bearerToken(r); ok &&
				subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.BearerToken)) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		if s.opts.Username != "" {
			if u, p, ok := r.BasicAuth(); ok &&
				subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1 &&
				subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="corescope-ingestor"`)
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 7235 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}

// loopbackHostOnly refuses (421) a request whose Host is not a loopback
// name or address with the listener's port: on a loopback listener any
// other Host is a browser that was sent here by DNS rebinding, and would
// otherwise read /metrics and /jobs as a same-origin page. A request with
// no Host (HTTP/1.0) cannot come from a browser and is let through.
func loopbackHostOnly(port int, next http.Handler) http.Handler {
	want := strconv.Itoa(port)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "" || loopbackHost(r.Host, want) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "misdirected request: on a loopback listener the Host must be localhost, 127.0.0.1 or [::1] with port "+want,
			http.StatusMisdirectedRequest)
	})
}

// loopbackHost reports whether hostport names a loopback host ("localhost"
// or a loopback IP) and the given port (or no port, for port 80).
func loopbackHost(hostport, port string) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host, p = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), "80"
	}
	if p != port {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}

// jsonPostOnly refuses (415) a POST with a body that is not JSON: an HTML
// form or a no-CORS fetch can only send form or text bodies, and the
// job API takes none, so a bodiless POST (our CLI) or a JSON one is all it
// needs.
func jsonPostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" && r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			http.Error(w, "unsupported media type: POST takes no body or application/json", http.StatusUnsupportedMediaType)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *httpServer) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.alive(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"alive": false, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alive": true})
}

func (s *httpServer) readyz(w http.ResponseWriter, r *http.Request) {
	v := s.ready()
	code := http.StatusOK
	if !v.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
