package transform

import "github.com/corescope/etl/etl"

// Admit screens a message on arrival, before the pipeline queues it
// (etl.PipelineConfig.Admit): a payload larger than MaxMessageBytes is
// rejected and counted as oversized at once, so that it never takes queue
// memory. It is safe for concurrent use.
func (t *Transformer) Admit(m *etl.Message) bool {
	if len(m.Payload) > t.cfg.MaxMessageBytes {
		t.reject(ReasonOversized, m, "size", len(m.Payload))
		return false
	}
	return true
}
