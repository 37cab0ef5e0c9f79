// Command byoda is the single binary of the BYODA data network: the operator,
// the pod runtime, the directories and the tools that go with them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/byoda-go/byoda/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		if !cli.Reported(err) {
			fmt.Fprintln(os.Stderr, "byoda:", err)
		}
		os.Exit(cli.ExitCode(err))
	}
}
