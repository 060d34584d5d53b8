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
