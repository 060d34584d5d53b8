package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// BenchmarkSourceThroughput measures how fast one Source reads a burst of
// small messages from a local mosquitto into a channel (publisher and
// subscriber on the same machine, so both compete for the CPU). QoS 1 is
// acknowledged by the consumer goroutine, as the pipeline would after a
// commit.
//
//	go test -run '^$' -bench SourceThroughput -benchtime 200000x ./etl/mqtt
func BenchmarkSourceThroughput(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			broker := mqtttest.StartBroker(b)
			msgs := make(chan etl.Message, 200000)
			src := NewSource(Config{Name: "bench", Broker: broker.URL(), CleanSession: true, QoS: 1}, chanEnqueue(msgs), nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx) }()
			defer func() { cancel(); <-done }()
			for !src.State().Subscribed {
				time.Sleep(10 * time.Millisecond)
			}
			pubs := make([]*Publisher, 2)
			for i := range pubs {
				p, err := NewPublisher(context.Background(), PublisherConfig{Broker: broker.URL()})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				pubs[i] = p
			}
			payload := []byte(`{"origin":"bench","origin_id":"AABBCCDD","timestamp":"2026-01-01T00:00:00.000Z","type":"PACKET","direction":"rx","SNR":"4","RSSI":"-90","score":"1000","raw":"15833FA002860CCFBA4A0A5E5D9A0A1E7C3FD1DBE0D0CD0FE4D5FBB0E8B15FC10E9A4E8A1B4C3D2E1F0A1B2C3D4E5F60718293A4B5C6D7E8F90"}`)

			b.ResetTimer()
			start := time.Now()
			go func() {
				for i := range b.N {
					pubs[i%2].Publish("meshcore/SJC/AABBCCDD/packets", qos, false, payload)
				}
			}()
			for range b.N {
				m := <-msgs
				if m.Ack != nil {
					m.Ack()
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
