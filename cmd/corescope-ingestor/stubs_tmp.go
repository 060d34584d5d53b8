package main

import (
	"context"
	"errors"
	"io"
)

// Temporary stubs; each is replaced by its real implementation.

func cmdDecode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("decode: not implemented")
}

func cmdJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("jobs: not implemented")
}

func cmdDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("daemon: not implemented")
}
