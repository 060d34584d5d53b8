package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
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
	BearerToken string // alternative to basic auth; empty = none
	PProf       bool   // serve /debug/pprof/ (only on a loopback listener)
}

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
	s.srv = &http.Server{
		Handler:           s.auth(mux),
		ReadHeaderTimeout: 10 * time.Second,
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
			if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
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
