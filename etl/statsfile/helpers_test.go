package statsfile

import (
	"context"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
