package main

import (
	"time"

	"github.com/corescope/etl/etl/statsfile"
)

// sourcePanels returns the stats file's source_statuses, source_liveness
// and watchdog tick: each source's state, and when the write path last took
// one of its messages.
func (d *daemon) sourcePanels() (sts []statsfile.SourceStatus, live map[string]statsfile.SourceLiveness, tick time.Time) {
	live = make(map[string]statsfile.SourceLiveness, len(d.sources))
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	for _, src := range d.sources {
		st, name := src.State(), src.Name()
		sts = append(sts, statsfile.SourceStatus{
			Name:               name,
			Broker:             src.Broker(),
			Connected:          st.Connected,
			LastConnectUnix:    unix(st.ConnectedSince),
			LastDisconnectUnix: unix(st.LastDisconnect),
			LastPacketUnix:     unix(st.LastMessage),
			PacketsTotal:       st.Messages,
			PacketsLast5m:      st.MessagesLast5m,
			ConnectCount:       st.Connects,
			DisconnectCount:    st.Disconnects,
			LastError:          st.LastError,
		})
		live[name] = statsfile.SourceLiveness{LastReceiptUnix: unix(st.LastMessage), LastMessageUnix: unix(d.pipe.LastTaken(name))}
		if t := src.WatchdogLastTick(); !t.IsZero() && (tick.IsZero() || t.Before(tick)) {
			tick = t
		}
	}
	return sts, live, tick
}
