package mqtt

import (
	"context"
	"fmt"
	"time"
)

// watchdog forces a reconnect when the source is connected but has received
// nothing for StallAfter, counted from the later of the last message and the
// start of the current connection (so a fresh reconnect is never a stall).
// Time spent blocked in Enqueue is back-pressure, not a stall. It logs the
// recovery when messages flow again.
func (s *Source) watchdog(ctx context.Context) {
	if s.cfg.StallAfter < 0 {
		return
	}
	tick := min(s.cfg.StallAfter/4, maxWatchdogTick)
	s.watchdogTick.Store(int64(tick))
	s.watchdogAt.Store(time.Now().UnixNano())
	t := time.NewTicker(tick)
	defer t.Stop()
	var alertedAt time.Time // zero: no stall reported since the last message
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.watchdogAt.Store(now.UnixNano())
			st := s.State()
			if !alertedAt.IsZero() && st.LastMessage.After(alertedAt) {
				s.log.Info("mqtt messages flowing again", "silent_for", st.LastMessage.Sub(alertedAt).Round(time.Millisecond))
				alertedAt = time.Time{}
			}
			if !st.Connected || s.inEnqueue.Load() {
				continue
			}
			since := st.ConnectedSince
			if st.LastMessage.After(since) {
				since = st.LastMessage
			}
			if silent := now.Sub(since); silent >= s.cfg.StallAfter {
				if alertedAt.IsZero() {
					alertedAt = now
				}
				s.log.Warn("mqtt source stalled, forcing a reconnect",
					"silent_for", silent.Round(time.Millisecond), "stall_after", s.cfg.StallAfter)
				s.forceReconnect()
			}
		}
	}
}

// WatchdogAlive reports whether the stall watchdog is ticking: it ran within
// the last three of its intervals. It is true when the watchdog is disabled
// and false before Run starts it.
func (s *Source) WatchdogAlive(now time.Time) bool {
	if s.cfg.StallAfter < 0 {
		return true
	}
	at, tick := s.watchdogAt.Load(), s.watchdogTick.Load()
	if at == 0 {
		return false
	}
	return now.Sub(time.Unix(0, at)) <= 3*time.Duration(tick)
}

// WatchdogLastTick returns when the stall watchdog last ran; zero before
// Run starts it or when it is disabled.
func (s *Source) WatchdogLastTick() time.Time {
	if at := s.watchdogAt.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// Flowing reports, at now, whether messages are flowing from the source:
// it is connected and its last message (before the first one, its
// connection) is no older than StallAfter (DefaultStallAfter when the
// watchdog is disabled). Otherwise it says why not.
func (s *Source) Flowing(now time.Time) (bool, string) {
	st := s.State()
	stall := s.cfg.StallAfter
	if stall <= 0 {
		stall = DefaultStallAfter
	}
	since := st.ConnectedSince
	if st.LastMessage.After(since) {
		since = st.LastMessage
	}
	switch {
	case !st.Connected:
		return false, fmt.Sprintf("source %s: not connected", s.cfg.Name)
	case now.Sub(since) > stall:
		return false, fmt.Sprintf("source %s: no message for %s", s.cfg.Name, now.Sub(since).Round(time.Second))
	}
	return true, ""
}

// WatchdogStopped reports whether the stall watchdog should be ticking at
// now and is not: it starts with the first connection, so it is given a
// second after that.
func (s *Source) WatchdogStopped(now time.Time) bool {
	st := s.State()
	return st.Connects > 0 && (st.Connects > 1 || now.Sub(st.ConnectedSince) > time.Second) && !s.WatchdogAlive(now)
}
