package main

import (
	"context"
	"errors"
	"io"
)

// Temporary stubs; each is replaced by its real implementation.

func cmdDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("daemon: not implemented")
}
