// Package mqtt connects the ingest pipeline to MQTT brokers. It is the only
// package that imports the paho client.
//
// A Source is one broker connection: it connects (retrying forever with a
// capped backoff that starts again after every successful connection, so a
// flapping broker is rejoined within a second or two; paho's own
// reconnect, which never resets its backoff, is off), subscribes on every
// connect, and hands each message to the pipeline through an Enqueue
// function. The paho callback only enqueues;
// it blocks only while the pipeline's queue is full, which is the
// back-pressure that slows reading from the broker instead of dropping data.
// QoS 1 deliveries are acknowledged by the pipeline through etl.Message.Ack
// after the batch holding them is committed; with a persistent session
// (CleanSession false, the default, and a stable ClientID such as
// DefaultClientID) the broker keeps and redelivers what was not
// acknowledged, and queues what arrives while the source is away. A stall watchdog forces a reconnect of a source
// that is connected but silent.
//
// Broker settings matter. Mosquitto queues at most max_queued_messages (1000
// by default) QoS 1 messages per client beyond those in flight and silently
// drops the rest, for a connected subscriber that is behind as well as for a
// disconnected persistent session: a 60 000-message burst through a stock
// mosquitto lost three quarters of it, none with max_queued_messages 100000.
// QoS 0 messages are queued for a disconnected persistent session only with
// queue_qos0_messages true.
//
// A Publisher is a minimal publishing client for the load generator and tests.
package mqtt
