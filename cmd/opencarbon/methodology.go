package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
)

const methodologyUsage = `Usage: opencarbon methodology lint|test [--factors FILE] FILE…

  lint   check documents: schema, CEL syntax and types, units, factor references
  test   lint, then run every test vector and print pass/fail per vector

Problems are printed as FILE:LINE:COL: message. The exit status is 1 when
any document has a problem or a failing vector. Without --factors the
shipped factor library (methodologies/factors.yaml) is used.
`

// methodologyCmd runs "opencarbon methodology lint|test FILE…".
func methodologyCmd(args []string) error {
	return runMethodology(os.Stdout, os.Stderr, args)
}

func runMethodology(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || (args[0] != "lint" && args[0] != "test") {
		fmt.Fprint(stderr, methodologyUsage)
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("methodology "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	factorsFile := fs.String("factors", "", "factor library file (default: the shipped library)")
	fs.Usage = func() { fmt.Fprint(stderr, methodologyUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	name, src := methodology.FactorsFile, []byte(nil)
	var err error
	if *factorsFile != "" {
		name = *factorsFile
		src, err = os.ReadFile(*factorsFile)
	} else {
		src, err = methodologies.FS.ReadFile(methodology.FactorsFile)
	}
	if err != nil {
		return fmt.Errorf("read factors: %w", err)
	}
	factors, err := methodology.ParseFactors(name, src)
	if err != nil {
		printProblems(stdout, err)
		return errors.New("the factor library has problems")
	}
	bad := 0
	for _, file := range fs.Args() {
		if !checkFile(stdout, sub, file, factors) {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files failed %s", bad, fs.NArg(), sub)
	}
	return nil
}

// checkFile lints (and for "test" runs the vectors of) one file.
func checkFile(out io.Writer, sub, file string, factors *methodology.Factors) bool {
	src, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(out, "%s: %v\n", file, err)
		return false
	}
	if filepath.Base(file) == methodology.FactorsFile {
		if _, err := methodology.ParseFactors(file, src); err != nil {
			printProblems(out, err)
			return false
		}
		fmt.Fprintf(out, "%s: ok (factor library)\n", file)
		return true
	}
	m, err := methodology.Load(file, src, factors)
	if err != nil {
		printProblems(out, err)
		return false
	}
	if sub == "lint" {
		fmt.Fprintf(out, "%s: ok %s@%s sha256:%s\n", file, m.ID(), m.Version(), m.Hash())
		return true
	}
	ok := true
	for _, r := range m.RunVectors(nil) {
		if r.Pass {
			got := fmt.Sprintf("%d mg", r.Got.MG)
			if r.Got.Refusal != "" {
				got = r.Got.Refusal
			}
			fmt.Fprintf(out, "PASS %s %s: %s\n", m.ID(), r.Name, got)
			continue
		}
		ok = false
		fmt.Fprintf(out, "FAIL %s %s: %s\n", m.ID(), r.Name, r.Reason)
	}
	return ok
}

func printProblems(out io.Writer, err error) {
	ps := methodology.ProblemsOf(err)
	if ps == nil {
		fmt.Fprintln(out, err)
		return
	}
	for _, p := range ps {
		fmt.Fprintln(out, p.String())
	}
}
