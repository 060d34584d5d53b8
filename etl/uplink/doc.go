// Package uplink turns one MQTT message published by a MeshCore observer
// uplink (meshcoretomqtt, meshcore-packet-capture, pyMC_repeater, a companion
// bridge…) into one typed [Envelope], and holds the filters that decide
// whether an envelope is stored: the observer blacklist and IATA lists
// ([Filter]) and the advert position filter ([GeoFilter]).
//
// Everything here is pure: no I/O, no globals, no logging. [Parse] runs on the
// ingest hot path, so it scans the payload with a small hand-written JSON
// scanner (validated exactly as [encoding/json.Valid] does) instead of
// decoding into maps: a typical /packets message costs one allocation.
//
// # Topics
//
// [ParseTopic] splits a topic into its layout. The layouts recognised, with
// the [Envelope.Kind] they give ("<p>" is any prefix, normally "meshcore"):
//
//	<p>/<IATA>/<observer>/packets         KindPacket (KindIgnored for a keepalive)
//	<p>/<IATA>/<observer>/raw             KindPacket when the payload carries packet bytes, else KindIgnored
//	<p>/<IATA>/<observer>/status          KindStatus (retained status and Last Will alike)
//	<p>/<IATA>/<observer>/debug           KindIgnored
//	<p>/<IATA>/<observer>/internal[/…]    KindIgnored
//	<p>/<IATA>/<observer>/serial[/…]      KindIgnored (remote serial commands and responses)
//	<p>/<IATA>/<observer>/neighbors       KindIgnored
//	<p>/client/<key>/packets              KindPacket with Client set: a mobile companion's
//	                                      reception; the IATA is empty (region from the payload
//	                                      or the source), the observer is <key>
//	<p>/packets, <p>/raw                  KindPacket: the old packet-capture default topics;
//	                                      the observer is the payload's origin_id
//	<p>/status                            KindIgnored (companion bridge or old packet-capture)
//	<p>/events/connection                 KindIgnored (companion bridge)
//	<p>/message/channel/<n>               KindChannelMessage (companion bridge "Format 2")
//	<p>/message/direct/<id>               KindDirectMessage (companion bridge "Format 2")
//
// Every other topic is rejected with reason "unknown_topic", whatever the
// payload carries: unlike the reference ingestor, a payload with a "raw" field
// on an arbitrary topic is not ingested (its observer would be a guess).
//
// The payload of an ignored or unknown topic is not read at all (remote
// serial payloads, for one, are signed tokens rather than JSON).
//
// # Regions and filters
//
// A message's region is [Envelope.EffectiveRegion]: the payload "region" if
// non-empty, else the topic's IATA, else the MQTT source's configured region
// (the caller sets [Envelope.SourceRegion]). [Filter.Allow] checks the
// observer blacklist, then the global IATA whitelist, then the source's
// iataFilter, all case-insensitively; companion messages, which have neither
// observer nor region, skip the IATA lists, and status messages skip the
// source's iataFilter.
//
// # Errors
//
// Parse returns a [*RejectError] whose Reason is a short, bounded label
// suitable for a metric: "unknown_topic", "invalid_json", "not_object",
// "no_packet", or one of the reasons for text the observer controls: a
// packet or status without an observer id ("empty_observer"), or an
// observer id, region or origin name over its bound ([MaxObserverLen],
// [MaxRegionLen], [MaxOriginLen]), not UTF-8 or holding a control character
// ("invalid_observer", "invalid_region", "invalid_origin"). Messages that are understood but not stored are not errors:
// they come back as KindIgnored with a bounded [Envelope.Reason].
package uplink
