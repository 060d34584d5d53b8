package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Handler serves the job API:
//
//	GET  /jobs                     the jobs as a JSON array of JobStatus
//	GET  /jobs/{name}/runs         recent runs of a job, newest first (?n=, default HistoryPerJob)
//	POST /jobs/{name}/run          run a job now and wait; ?dryRun=1 for a dry run
//
// POST answers 200 with the Run as JSON once the run has finished, whatever
// its result; 404 for an unknown job; 409 with {"error": …} for a job whose
// Spec.Enabled is false (enabled: false turns a job off everywhere, on
// demand included); 409 with the skipped Run when a run of the job is still
// going; 503 while shutting down. A run may last as long as the job's
// timeout: the handler lifts the server's write deadline for it.
// Authentication and cross-site checks are the caller's concern (wrap the
// handler).
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs", s.serveList)
	mux.HandleFunc("GET /jobs/{name}/runs", s.serveRuns)
	mux.HandleFunc("POST /jobs/{name}/run", s.serveRun)
	return mux
}

func (s *Scheduler) serveList(w http.ResponseWriter, r *http.Request) {
	list := s.Jobs()
	// After a restart the in-process last run is empty: fill it from history.
	for i := range list {
		if list[i].LastRun != nil {
			continue
		}
		if runs, err := s.history.LastRuns(r.Context(), list[i].Name, 1); err == nil && len(runs) == 1 {
			list[i].LastRun = &runs[0]
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Scheduler) serveRuns(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.known(name) {
		writeError(w, http.StatusNotFound, ErrUnknownJob.Error()+": "+name)
		return
	}
	n := s.historyPerJob
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "n: want a positive integer")
			return
		}
	}
	runs, err := s.history.LastRuns(r.Context(), name, n)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if runs == nil {
		runs = []Run{}
	}
	writeJSON(w, http.StatusOK, runs)
}

func (s *Scheduler) serveRun(w http.ResponseWriter, r *http.Request) {
	dryRun := false
	if v := r.URL.Query().Get("dryRun"); v != "" {
		var err error
		if dryRun, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, "dryRun: want a boolean")
			return
		}
	}
	name := r.PathValue("name")
	if enabled, ok := s.enabled(name); ok && !enabled {
		writeError(w, http.StatusConflict, fmt.Sprintf("job %s is disabled (jobs.%s.enabled: false); enable it in the config to run it", name, name))
		return
	}
	// The run is bounded by the job's own timeout, not by the server's
	// WriteTimeout, which would cut the response of a long run. (The read
	// deadline is already lifted once the request is read.) An error means
	// a ResponseWriter without deadlines: nothing to lift.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	run, err := s.RunNow(r.Context(), name, dryRun)
	switch {
	case errors.Is(err, ErrUnknownJob):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrStopping):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, ErrRunning):
		writeJSON(w, http.StatusConflict, run)
	default:
		// The run happened; its result says how it went.
		writeJSON(w, http.StatusOK, run)
	}
}

// enabled reports the job's Spec.Enabled; ok is false for an unknown job.
func (s *Scheduler) enabled(name string) (enabled, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return false, false
	}
	return e.spec.Enabled, true
}

func (s *Scheduler) known(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[name]
	return ok
}

// writeJSON answers code with v as indented JSON, never cached: job states
// and health verdicts are only true when they are read.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client has gone if this fails
}

// writeError answers code with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
