// Package mqtt connects the ingest pipeline to MQTT brokers. It is the only
// package that imports the paho client.
//
// A Source is one broker connection: it connects (retrying forever with a
// capped backoff), subscribes on every connect, and hands each message to
// the pipeline through an Enqueue function. The paho callback only enqueues;
// it blocks only while the pipeline's queue is full, which is the
// back-pressure that slows reading from the broker instead of dropping data.
// QoS 1 deliveries are acknowledged by the pipeline through etl.Message.Ack
// after the batch holding them is committed; with a persistent session
// (CleanSession false and a fixed ClientID) the broker keeps and redelivers
// what was not acknowledged. A stall watchdog forces a reconnect of a source
// that is connected but silent.
//
// A Publisher is a minimal publishing client for the load generator and tests.
package mqtt
