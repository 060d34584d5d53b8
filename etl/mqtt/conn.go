package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// readBufferSize is the read buffer put in front of the broker connection
// (bytes). paho reads each packet with several small reads straight from the
// socket (one for the header byte, one per length byte, one for the rest);
// buffering turns a burst of small messages into a few large reads.
const readBufferSize = 64 << 10

// tcpKeepAlive is the TCP keepalive period of broker connections.
const tcpKeepAlive = 30 * time.Second

// errForcedReconnect is what paho sees as the reason of a connection the
// source closed on purpose. paho ignores read errors that look like "use of
// closed network connection", so a plain Close would leave it believing it
// is connected until the keepalive expires.
var errForcedReconnect = errors.New("forced reconnect")

// closeLinger bounds how long Close waits for the broker to close its side.
const closeLinger = 200 * time.Millisecond

// bufferedConn is a broker connection with a read buffer, which the source
// can break on purpose to make the source reconnect, and which closes
// gracefully.
type bufferedConn struct {
	net.Conn
	r       *bufio.Reader
	forced  atomic.Bool
	eofOnce sync.Once
	eof     chan struct{} // closed when Read has returned an error (EOF included)
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize), eof: make(chan struct{})}
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.eofOnce.Do(func() { close(c.eof) })
		if c.forced.Load() {
			err = errForcedReconnect
		}
	}
	return n, err
}

// Close half-closes the connection and waits (at most closeLinger) for the
// broker to close its side before closing. paho closes right after writing
// DISCONNECT; a plain close with unread bytes in the socket (messages the
// broker sent meanwhile) makes the kernel send a reset, and the broker then
// loses what it had not read yet: the last PUBACKs and the DISCONNECT, so
// acknowledged messages would be redelivered.
func (c *bufferedConn) Close() error {
	if !c.forced.Load() {
		if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			t := time.NewTimer(closeLinger)
			select {
			case <-c.eof: // paho's reader drains the socket and sees EOF
			case <-t.C:
			}
			t.Stop()
		}
	}
	return c.Conn.Close()
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && c.forced.Load() {
		err = errForcedReconnect
	}
	return n, err
}

// force closes the connection so that paho reports errForcedReconnect and
// the source reconnects.
func (c *bufferedConn) force() {
	c.forced.Store(true)
	_ = c.Conn.Close()
}

// dialer opens broker connections for paho (its OpenConnectionFunc) and
// remembers the current one so the source can force a reconnect.
type dialer struct {
	timeout time.Duration
	mu      sync.Mutex
	current *bufferedConn
}

// open implements paho.OpenConnectionFunc for tcp, tls and websocket URLs.
func (d *dialer) open(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	var (
		conn net.Conn
		err  error
	)
	nd := &net.Dialer{Timeout: d.timeout, KeepAlive: tcpKeepAlive}
	switch u.Scheme {
	case "tcp", "mqtt":
		conn, err = nd.Dial("tcp", u.Host)
	case "ssl", "tls", "mqtts":
		td := &tls.Dialer{NetDialer: nd, Config: o.TLSConfig}
		ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
		conn, err = td.DialContext(ctx, "tcp", u.Host)
		cancel()
	case "ws", "wss":
		wsURL := *u
		wsURL.User = nil // gorilla/websocket rejects URLs with credentials (paho #623)
		var tc *tls.Config
		if u.Scheme == "wss" {
			tc = o.TLSConfig
		}
		conn, err = paho.NewWebsocket(wsURL.String(), tc, d.timeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		err = fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	bc := newBufferedConn(conn)
	d.mu.Lock()
	d.current = bc
	d.mu.Unlock()
	return bc, nil
}

// currentConn returns the connection opened last; nil before the first.
func (d *dialer) currentConn() *bufferedConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// force breaks the current connection, if any.
func (d *dialer) force() {
	if c := d.currentConn(); c != nil {
		c.force()
	}
}

// tlsConfig builds the TLS settings of a source: nil for a plain connection
// that needs none.
func tlsConfig(cfg Config, u *url.URL) (*tls.Config, error) {
	if !IsTLS(u) {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice (rejectUnauthorized: false)
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
