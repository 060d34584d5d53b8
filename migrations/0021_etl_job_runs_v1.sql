-- History of maintenance job runs (one row per run).
CREATE TABLE IF NOT EXISTS job_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, result TEXT NOT NULL, rows_affected INTEGER NOT NULL DEFAULT 0, dry_run INTEGER NOT NULL DEFAULT 0, error TEXT);
CREATE INDEX IF NOT EXISTS idx_job_runs_job ON job_runs(job, id);
