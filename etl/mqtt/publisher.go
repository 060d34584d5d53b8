package mqtt

import (
	"context"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PublisherConfig describes a publishing connection. Zero values take the
// Source defaults.
type PublisherConfig struct {
	Broker             string // same URL forms as Config.Broker
	ClientID           string // "" lets the broker assign one
	Username, Password string
	InsecureSkipVerify bool
	CAFile             string
	ConnectTimeout     time.Duration // default DefaultConnectTimeout; also bounds each write
}

// Publisher is a minimal MQTT publishing client (clean session, automatic
// reconnect) for the load generator and tests. Its methods are safe for
// concurrent use.
type Publisher struct {
	client paho.Client
}

// Pending is a message handed to the publisher. Wait returns when it was
// written (QoS 0) or acknowledged by the broker (QoS ≥ 1).
type Pending struct{ tok paho.Token }

// Wait waits for the publication to complete or ctx to be done.
func (p Pending) Wait(ctx context.Context) error {
	select {
	case <-p.tok.Done():
		return p.tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewPublisher connects to the broker (one attempt, bounded by
// ConnectTimeout and ctx).
func NewPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	u, err := ParseBroker(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	tc, err := tlsConfig(Config{InsecureSkipVerify: cfg.InsecureSkipVerify, CAFile: cfg.CAFile}, u)
	if err != nil {
		return nil, err
	}
	d := &dialer{timeout: cfg.ConnectTimeout}
	o := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetTLSConfig(tc).
		SetCustomOpenConnectionFn(d.open).
		SetCleanSession(true).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(5 * time.Second)
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
		o.SetPassword(cfg.Password)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect %s: %w", RedactURL(cfg.Broker), err)
	}
	return &Publisher{client: c}, nil
}

// Publish hands a message to the client and returns without waiting for it
// to be sent; call Wait on the result. The payload must not be modified
// until then.
func (p *Publisher) Publish(topic string, qos byte, retained bool, payload []byte) Pending {
	return Pending{p.client.Publish(topic, qos, retained, payload)}
}

// Close disconnects, waiting up to one second for pending writes.
func (p *Publisher) Close() {
	p.client.Disconnect(uint(shutdownTimeout / time.Millisecond))
}
