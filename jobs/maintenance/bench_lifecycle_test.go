package maintenance_test

import (
	"path/filepath"
	"testing"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// The data-lifecycle benchmarks on the big database (see
// BenchmarkPrunePacketsBig), with the same simulated ingest running:
//
//	CORESCOPE_BIG=1 go test ./jobs/maintenance -run '^$' -bench 'BackupBig|ReprocessBig' -benchtime 1x -timeout 60m
//
// BackupBig copies the whole file with VACUUM INTO and verifies the copy;
// ReprocessBig re-decodes every transmission, and every one of them changes
// (the big database's decoded_json is synthetic), so it is the worst case.
func BenchmarkBackupBig(b *testing.B) {
	benchBig(b, func(_ *testing.B, db *sqlite.DB, dir string, _ maintenance.Chunking) jobs.Job {
		return &maintenance.Backup{DB: db, Dir: filepath.Join(dir, "backups")}
	}, nil)
}

func BenchmarkReprocessBig(b *testing.B) {
	benchBig(b, func(_ *testing.B, db *sqlite.DB, _ string, c maintenance.Chunking) jobs.Job {
		return &maintenance.Reprocess{DB: db, Decode: decodeWith(meshcore.Options{VerifySignatures: true}), Chunking: c}
	}, nil)
}
