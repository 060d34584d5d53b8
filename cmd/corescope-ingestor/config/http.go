package config

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// DefaultHTTPListen serves metrics and the job API on loopback only.
const DefaultHTTPListen = "127.0.0.1:9108"

// HTTPConfig configures the HTTP endpoint. Ours.
type HTTPConfig struct {
	// Listen is host:port; "" disables the server (default 127.0.0.1:9108).
	Listen string `koanf:"listen"`
	// Username and Password enable basic auth; both or neither are set
	// (default "").
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// BearerToken, when set, is accepted as "Authorization: Bearer <token>".
	BearerToken string `koanf:"bearerToken"`
	// Pprof serves /debug/pprof/ on the same listener (default false).
	Pprof bool `koanf:"pprof"`
}

// validate checks the listen address and the credentials, and warns when
// the endpoint is reachable from the network without authentication.
func (h *HTTPConfig) validate(p *problems, log *slog.Logger) {
	if (h.Username == "") != (h.Password == "") {
		p.addf("http.password", "set both http.username and http.password, or neither")
	}
	h.Listen = strings.TrimSpace(h.Listen)
	if h.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		p.addf("http.listen", "want host:port, got %q: %v", h.Listen, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.addf("http.listen", "invalid port %q", port)
		return
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	if !loopback && h.Username == "" && h.BearerToken == "" {
		log.Warn("http endpoint reachable from the network without authentication; set http.bearerToken or http.username/password", "listen", h.Listen, "pprof", h.Pprof)
	}
}
