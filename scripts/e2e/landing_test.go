package e2e

import (
	"bytes"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLandingPageInChromium loads the exporter's landing page in headless
// Chromium (Debian's chromium package) after a good probe and a failed one,
// and checks what an admin would look for: both probes listed, the failure
// marked and first, the leaf's SHA-1 and days left, working links to each
// probe's debug output and to the config; then a screenshot, which must be
// a PNG of the window's size that shows the page's own colours.
//
// Chromium is driven by its command line (--dump-dom, --screenshot)
// rather than chromedp: two calls need no DevTools client, and chromedp
// would be a large dependency for one test.
func TestLandingPageInChromium(t *testing.T) {
	chromium := requireTool(t, "chromium")
	e := startExporter(t)
	base := "http://" + e.addr
	for _, target := range []string{e.good, e.plain} {
		if code, body, err := httpGet(base + "/probe?" + url.Values{"module": {"smtp_starttls"}, "target": {target}}.Encode()); err != nil || code != 200 {
			t.Fatalf("probe %s: %d %v %s", target, code, err, body)
		}
	}
	// Chromium refuses to run as root without --no-sandbox; the page is
	// our own, on loopback.
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900"}
	r := runCommand(t, environ(), chromium, append(flags, "--dump-dom", base+"/")...)
	if r.code != 0 {
		t.Fatalf("chromium --dump-dom: %s", r)
	}
	dom := r.stdout

	rows := regexp.MustCompile(`(?s)<tr class="(failed|passed)" data-id="(\d+)">(.*?)</tr>`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 2 {
		t.Fatalf("want 2 probes listed, found %d in:\n%s", len(rows), dom)
	}
	failed, passed := rows[0], rows[1]
	if failed[1] != "failed" || passed[1] != "passed" {
		t.Errorf("the failure should come first (newest), marked failed: %q then %q", failed[1], passed[1])
	}
	if !strings.Contains(failed[3], e.plain) || !strings.Contains(failed[3], "critical") || !strings.Contains(failed[3], "454") {
		t.Errorf("the failed row does not say critical and the 454 reply for %s:\n%s", e.plain, failed[3])
	}
	if !regexp.MustCompile(`<code class="sha1">[0-9A-F]{40}</code> <span class="days-left">\d+ days</span>`).MatchString(passed[3]) ||
		!strings.Contains(passed[3], e.good) || !strings.Contains(passed[3], `status-ok">ok`) {
		t.Errorf("the good row lacks its target, ok, the leaf SHA-1 or the days left:\n%s", passed[3])
	}
	if !strings.Contains(dom, `href="/config"`) {
		t.Error("no link to the config")
	}
	if code, body, _ := httpGet(base + "/config"); code != 200 || !strings.Contains(body, "smtp_starttls:") {
		t.Errorf("/config: %d %q", code, body)
	}
	for _, row := range rows {
		link := regexp.MustCompile(`href="(/debug\?id=\d+)"`).FindStringSubmatch(row[3])
		if link == nil {
			t.Errorf("row %s has no debug link", row[2])
			continue
		}
		code, body, _ := httpGet(base + link[1])
		if code != 200 || !strings.Contains(body, "Metrics that would have been returned:") || !strings.Contains(body, "EHLO") {
			t.Errorf("%s: %d\n%s", link[1], code, body)
		}
	}

	shot := filepath.Join(t.TempDir(), "landing.png")
	if r := runCommand(t, environ(), chromium, append(flags, "--screenshot="+shot, base+"/")...); r.code != 0 {
		t.Fatalf("chromium --screenshot: %s", r)
	}
	raw, err := os.ReadFile(shot)
	if err != nil || len(raw) == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot %v, want the 1280x900 window", b)
	}
	// The page drew with its own style: the failed row's background
	// (#fff5f5) and the table header's (#f3f3f3) are on screen, and text
	// gives many colours besides.
	colours := map[color.RGBA]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}] = true
		}
	}
	for name, c := range map[string]color.RGBA{"failed row": {0xff, 0xf5, 0xf5, 255}, "table header": {0xf3, 0xf3, 0xf3, 255}} {
		if !colours[c] {
			t.Errorf("the screenshot shows no %s colour %v: the style or the table did not render", name, c)
		}
	}
	if len(colours) < 20 {
		t.Errorf("the screenshot has %d colours: a blank or broken page", len(colours))
	}
	if out := os.Getenv("STARTTLS_PROBE_SCREENSHOT"); out != "" {
		os.WriteFile(out, raw, 0o644)
	}
}
