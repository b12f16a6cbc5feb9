package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// series is one line of the plot: a value per endpoint count.
type series struct {
	label  string
	colour string
	dashed bool
	points []point
}

type point struct{ x, y float64 }

// panel is one chart of the plot.
type panel struct {
	title, unit string
	series      []series
}

// writePlot draws the panels side by side as an SVG, by hand: the plot is
// lines and text, and the bench takes no dependency for it. x is the
// endpoint count on a log scale, y linear from 0.
func writePlot(path, caption string, panels []panel) error {
	const w, h = 480, 380
	const left, right, top, bottom = 70.0, 20.0, 40.0, 120.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		w*len(panels), h+30, w*len(panels), h+30)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, p := range panels {
		x0 := float64(i * w)
		minX, maxX, maxY := math.Inf(1), math.Inf(-1), 0.0
		for _, s := range p.series {
			for _, pt := range s.points {
				minX, maxX, maxY = math.Min(minX, pt.x), math.Max(maxX, pt.x), math.Max(maxY, pt.y)
			}
		}
		if math.IsInf(minX, 0) {
			continue
		}
		lx0, lx1 := math.Log10(minX), math.Log10(maxX)
		// A margin, so that the first and last points stand clear of the frame.
		pad := max(0.25, lx1-lx0) * 0.06
		lx0, lx1 = lx0-pad, lx1+pad
		step := niceStep(maxY / 5)
		top1 := math.Ceil(maxY*1.05/step) * step
		pw, ph := float64(w-left-right), float64(h-top-bottom)
		px := func(x float64) float64 { return x0 + left + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
		py := func(y float64) float64 { return top + ph - y/top1*ph }
		fmt.Fprintf(&b, `<text x="%.1f" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", x0+left, html.EscapeString(p.title))
		for y := 0.0; y <= top1+step/2; y += step {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0+left, x0+left+pw, py(y), py(y))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+left-6, py(y)+4, thousands(y))
		}
		for _, x := range xTicks(p.series) {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), px(x), top, top+ph)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), top+ph+16, thousands(x))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">endpoints (log scale)</text>`+"\n", x0+left+pw/2, top+ph+34)
		fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0+16, top+ph/2, html.EscapeString(p.unit))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", x0+left, top, pw, ph)
		for j, s := range p.series {
			dash := ""
			if s.dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			var pts []string
			for _, pt := range s.points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(pt.x), py(pt.y)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.colour, dash)
			fill := s.colour
			if s.dashed {
				fill = "white" // hollow points for the dashed series, told apart where lines meet
			}
			for _, pt := range s.points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n", px(pt.x), py(pt.y), fill, s.colour)
			}
			// The legend, two columns under the axis label.
			lx, ly := x0+left+float64(j%2)*pw/2, top+ph+56+float64(j/2)*18
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, lx+24, ly-4, ly-4, s.colour, dash)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly, html.EscapeString(s.label))
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">%s</text>`+"\n", h+20, html.EscapeString(caption))
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// xTicks is every endpoint count measured.
func xTicks(ss []series) []float64 {
	seen := map[float64]bool{}
	var xs []float64
	for _, s := range ss {
		for _, pt := range s.points {
			if !seen[pt.x] {
				seen[pt.x] = true
				xs = append(xs, pt.x)
			}
		}
	}
	return xs
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// thousands prints n rounded, with thousands separated by commas.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
