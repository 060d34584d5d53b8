package config

// The jobs section is maintenance.Config: each job kind's struct, defaults
// and checks live with the jobs (maintenance.DefaultConfig,
// maintenance.Config.Validate). This file merges CoreScope's legacy keys
// into it.

// normalizeJobs merges the legacy retention and db keys with the job
// options and validates each job.
func (c *Config) normalizeJobs(isSet func(string) bool, p *problems) {
	c.normalizeRetention(isSet, p)
	c.normalizeVacuum(isSet, p)
	p.addFields("jobs", c.Jobs.Validate())
}
