package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/opencarbon/opencarbon/internal/gctune"
)

// openCmd parses the standard flags of subcommand name (with the server's
// flags when serving) from args and opens the app; the caller closes it.
func openCmd(ctx context.Context, name string, serving bool, args []string) (*app, error) {
	fs, cfg := newConfigFlags(name, serving)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return openApp(ctx, cfg)
}

func serveCmd(ctx context.Context, args []string) error {
	a, err := openCmd(ctx, "serve", true, args)
	if err != nil {
		return err
	}
	defer a.close()
	a.log.Info("garbage collector", "gogc", gctune.Apply())
	cfg := a.cfg
	if cfg.Demo {
		if err := loadDemo(ctx, a); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	a.start(workers)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
		dsrv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 10 * time.Second}
		defer dsrv.Close()
		go dsrv.Serve(dln)
		a.log.Info("profiles", "addr", "http://"+dln.Addr().String()+"/debug/pprof/")
	}
	a.log.Info("serving", "addr", "http://"+ln.Addr().String(), "db", a.db.Dialect, "demo", cfg.Demo)
	if cfg.Demo {
		printDemo(a, "http://"+ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing in-flight requests", "timeout", cfg.Shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	stopWorkers()
	if !a.waitWorkers(cfg.Shutdown) {
		a.log.Warn("background workers still running at shutdown", "timeout", cfg.Shutdown)
	}
	a.log.Info("stopped")
	return nil
}

// debugHandler serves Go's runtime profiles (net/http/pprof) on the
// separate --debug-addr listener, never on the API's.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func migrateCmd(ctx context.Context, args []string) error {
	a, err := openCmd(ctx, "migrate", false, args)
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Println("migrations applied to", a.db.Dialect, "database")
	return nil
}
