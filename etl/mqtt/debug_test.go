// PAHO_DEBUG=1 (errors and warnings) or 2 (everything) routes paho's
// internal log to stderr while debugging a test.

package mqtt

import (
	"log"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func init() {
	if os.Getenv("PAHO_DEBUG") != "" {
		paho.ERROR = log.New(os.Stderr, "[ERROR] ", log.Lmicroseconds)
		paho.WARN = log.New(os.Stderr, "[WARN] ", log.Lmicroseconds)
		paho.CRITICAL = log.New(os.Stderr, "[CRIT] ", log.Lmicroseconds)
		if os.Getenv("PAHO_DEBUG") == "2" {
			paho.DEBUG = log.New(os.Stderr, "[DEBUG] ", log.Lmicroseconds)
		}
	}
}
