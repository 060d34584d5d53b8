// Command corescope-ingestor is the single writer of a CoreScope SQLite
// database: it ingests MeshCore packets from MQTT and runs the scheduled
// maintenance jobs. See the README for usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the VCS revision the binary was built from is used.
var version = "dev"

func init() {
	if version != "dev" {
		return
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		version = "dev-" + rev + modified
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError marks an error caused by the command line or the config: the
// process exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps run's error to the process exit status (0 ok, 2 usage or
// config, 1 runtime failure) and prints it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "corescope-ingestor:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// run dispatches the subcommand. With no subcommand it runs the daemon.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "corescope-ingestor %s\n", version)
			return nil
		case "check":
			return cmdCheck(ctx, args[1:], stdout, stderr)
		case "migrate":
			return cmdMigrate(ctx, args[1:], stdout, stderr)
		case "decode":
			return cmdDecode(ctx, args[1:], stdin, stdout, stderr)
		case "jobs":
			return cmdJobs(ctx, args[1:], stdout, stderr)
		case "import":
			return cmdImport(ctx, args[1:], stdout, stderr)
		case "passwd":
			return cmdPasswd(args[1:], stdin, stdout, stderr)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return cmdDaemon(ctx, args, stdout, stderr)
}

const usage = `usage: corescope-ingestor [-config PATH]        run the daemon
       corescope-ingestor check [-config PATH]  validate the config and print the effective config
       corescope-ingestor migrate [-config PATH] apply database migrations and exit
       corescope-ingestor decode HEX [HEX…]     decode packets (or one per line from stdin)
       corescope-ingestor jobs [-config PATH]   list jobs of the running daemon
       corescope-ingestor jobs run NAME [--dry-run]
       corescope-ingestor import [-config PATH] FILE…   replay capture / JSON Lines files
       corescope-ingestor import [-config PATH] --from-db OTHER.db
       corescope-ingestor passwd USER           hash a password for broker.users / a password file
       corescope-ingestor version
`
