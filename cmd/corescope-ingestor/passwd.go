package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/corescope/etl/etl/broker"
)

// cmdPasswd implements `passwd USER`: it reads a password from stdin (one
// line) and prints "USER:HASH", a line for broker.passwordFile, whose hash
// also fits broker.users[].passwordHash. The format is mosquitto_passwd's,
// so either tool's files work with both brokers.
func cmdPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] == "" || strings.ContainsAny(args[0], ": \t") {
		return usageError{errors.New("usage: corescope-ingestor passwd USER  (the password is read from stdin)")}
	}
	fmt.Fprintf(stderr, "password for %s: ", args[0])
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	fmt.Fprintln(stderr)
	if pw == "" {
		return usageError{errors.New("passwd: empty password")}
	}
	h, err := broker.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s:%s\n", args[0], h)
	return nil
}
