package jobs

import (
	"context"
	"crypto/subtle"
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

// DefaultListen serves metrics and the job API on loopback only.
const DefaultListen = "127.0.0.1:9108"

// ServerOptions configure the daemon's HTTP endpoint. The koanf tags are
// the config file's keys of its http section.
type ServerOptions struct {
	// Listen is host:port; "" disables the server (default DefaultListen).
	Listen string `koanf:"listen"`
	// Username and Password enable basic auth; both or neither are set
	// (default "").
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// BearerToken, when set, is accepted as "Authorization: Bearer <token>",
	// an alternative to basic auth (default "").
	BearerToken string `koanf:"bearerToken"`
	// PProf serves /debug/pprof/ on the same listener, only when it is a
	// loopback address (default false).
	PProf bool `koanf:"pprof"`
	// Import is served at POST /import; nil = not served.
	Import http.Handler `koanf:"-"`
}

// Validate trims Listen and reports every problem, joined; each error
// starts with its key (listen, password) and a colon.
func (o *ServerOptions) Validate() error {
	var errs []error
	if (o.Username == "") != (o.Password == "") {
		errs = append(errs, errors.New("password: set both username and password, or neither"))
	}
	o.Listen = strings.TrimSpace(o.Listen)
	if o.Listen == "" {
		return errors.Join(errs...)
	}
	_, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen: want host:port, got %q: %v", o.Listen, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("listen: invalid port %q", port))
	}
	return errors.Join(errs...)
}

// Timeouts of the HTTP server.
const (
	serverReadHeaderTimeout = 10 * time.Second // to read a request's headers
	serverReadTimeout       = 30 * time.Second // to read a whole request
	serverWriteTimeout      = 2 * time.Minute  // to write a response (longest pprof profile or trace, exclusive)
	serverIdleTimeout       = 2 * time.Minute  // keep-alive connection idle
	serverShutdownTimeout   = 5 * time.Second  // for open requests to finish once Run's ctx is done
)

// Server is the daemon's HTTP endpoint: GET /metrics, GET /healthz,
// GET /readyz, the job API (Scheduler.Handler), POST /import and, on a
// loopback listener, /debug/pprof/.
type Server struct {
	opts  ServerOptions
	srv   *http.Server
	ln    net.Listener
	log   *slog.Logger
	ready func() Readiness
	alive func() error
}

// Readiness is the /readyz verdict, served with 200 when Ready and 503
// otherwise.
type Readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// NewServer binds opts.Listen now, so that a busy port fails startup with
// a clear error before anything else starts. It serves gatherer's metrics,
// sched's job API (none when sched is nil), alive's verdict at /healthz
// (503 with the error) and ready's at /readyz. A nil log discards.
func NewServer(opts ServerOptions, gatherer prometheus.Gatherer, sched *Scheduler, alive func() error, ready func() Readiness, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	s := &Server{opts: opts, ln: ln, log: log, ready: ready, alive: alive}
	if !isLoopback(ln.Addr()) && opts.Username == "" && opts.BearerToken == "" {
		log.Warn("http endpoint reachable from the network without authentication; set http.bearerToken or http.username/password", "listen", opts.Listen, "pprof", opts.PProf)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if sched != nil {
		h := sched.Handler()
		mux.Handle("/jobs", h)
		mux.Handle("/jobs/", h)
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
		// write deadline for itself (Scheduler.Handler) and waits as long
		// as the job's timeout; pprof refuses a profile or trace of
		// WriteTimeout or longer.
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down, waiting at most
// serverShutdownTimeout for open requests.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("http listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), serverShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// auth enforces basic or bearer auth when configured. Health endpoints stay
// open so that a supervisor can probe them without credentials.
func (s *Server) auth(next http.Handler) http.Handler {
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

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.alive(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"alive": false, "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alive": true})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	v := s.ready()
	code := http.StatusOK
	if !v.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, v)
}

// isLoopback reports whether a is a TCP address on a loopback interface.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
