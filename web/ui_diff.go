package web

// diffLine is one line of a line diff: Op is ' ' (same), '+' or '-'.
type diffLine struct {
	Op   string
	Text string
}

// maxDiffLines bounds the documents lineDiff compares (LCS is quadratic).
const maxDiffLines = 2000

// lineDiff returns the line diff from a to b (longest common subsequence),
// with unchanged runs longer than six lines folded to their edges.
func lineDiff(a, b []string) []diffLine {
	if len(a) > maxDiffLines || len(b) > maxDiffLines {
		return []diffLine{{Op: "-", Text: "…"}, {Op: "+", Text: "…"}}
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, diffLine{" ", a[i]})
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, diffLine{"+", b[j]})
			j++
		default:
			out = append(out, diffLine{"-", a[i]})
			i++
		}
	}
	return fold(out, 3)
}

// fold keeps ctx unchanged lines around each change and replaces longer
// unchanged runs by one "…" line.
func fold(lines []diffLine, ctx int) []diffLine {
	var out []diffLine
	for i := 0; i < len(lines); {
		if lines[i].Op != " " {
			out = append(out, lines[i])
			i++
			continue
		}
		j := i
		for j < len(lines) && lines[j].Op == " " {
			j++
		}
		run := lines[i:j]
		head, tail := ctx, ctx
		if i == 0 {
			head = 0
		}
		if j == len(lines) {
			tail = 0
		}
		if len(run) <= head+tail+1 {
			out = append(out, run...)
		} else {
			out = append(out, run[:head]...)
			out = append(out, diffLine{" ", "…"})
			out = append(out, run[len(run)-tail:]...)
		}
		i = j
	}
	return out
}
