"""Static server for the packaged page (site/, written by scripts/package-web.mjs) on 127.0.0.1, as
a static host should serve it: the strict CSP and security headers, the brotli or gzip copy that the
browser accepts, a year's immutable caching for content-hashed files and revalidation for the rest.

Usage: python3 scripts/serve.py [PORT] [--dir DIR]   (PORT 8080, DIR site)
"""
import argparse
import email.utils
import http.server
import os
import re
import shutil
import sys
import urllib.parse

CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json", ".webmanifest": "application/manifest+json",
         ".wasm": "application/wasm", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
         ".gz": "application/gzip", ".br": "application/octet-stream", ".txt": "text/plain; charset=utf-8"}
# scripts/package-web.mjs puts 10 hex digits of the content's SHA-256 before the extension.
HASHED = re.compile(r"\.[0-9a-f]{10}\.[A-Za-z0-9]+$")
# Accept-Encoding tokens we have copies for, best first; each with the suffix of its copy.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def accepted_encodings(header):
    """The codings an Accept-Encoding header allows (q > 0), lower-cased."""
    allowed = set()
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = re.search(r"q\s*=\s*([0-9.]+)", params)
        if name and not (q and float(q.group(1) or 0) == 0):
            allowed.add(name.strip().lower())
    return allowed


class Handler(http.server.BaseHTTPRequestHandler):
    root = "site"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.respond(body=True)

    def do_HEAD(self):
        self.respond(body=False)

    def refuse(self, status, message):
        data = f"{message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def resolve(self):
        """The file a request names, or (status, one-line reason)."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if "\0" in path or not path.startswith("/"):
            return None, (400, f"bad path {path!r}")
        root = os.path.realpath(self.root)
        file = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if file != root and not file.startswith(root + os.sep):
            return None, (403, f"{path}: outside the served folder")
        if os.path.isdir(file):
            file = os.path.join(file, "index.html")
        if not os.path.isfile(file):
            return None, (404, f"{path}: not found")
        return file, None

    def variant(self, file):
        """The copy to send (precompressed where the browser takes it) and its Content-Encoding."""
        allowed = accepted_encodings(self.headers.get("Accept-Encoding", ""))
        for encoding, suffix in ENCODINGS:
            if encoding in allowed and os.path.isfile(file + suffix):
                return file + suffix, encoding
        return file, None

    def respond(self, body):
        file, refusal = self.resolve()
        if refusal:
            return self.refuse(*refusal)
        sent, encoding = self.variant(file)
        stat = os.stat(sent)
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}-{encoding or "identity"}"'
        unchanged = self.headers.get("If-None-Match") == etag
        self.send_response(304 if unchanged else 200)
        self.send_header("Content-Type", TYPES.get(os.path.splitext(file)[1], "application/octet-stream"))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if any(os.path.isfile(file + suffix) for _, suffix in ENCODINGS):
            self.send_header("Vary", "Accept-Encoding")
        immutable = HASHED.search(os.path.basename(file))
        self.send_header("Cache-Control", "public, max-age=31536000, immutable" if immutable else "no-cache")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("Content-Length", "0" if unchanged else str(stat.st_size))
        self.end_headers()
        if body and not unchanged:
            try:
                with open(sent, "rb") as source:
                    shutil.copyfileobj(source, self.wfile)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away (a closed page, an aborted fetch)

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, fmt, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description="Serves the packaged Digit Lab page on 127.0.0.1.")
    parser.add_argument("port", nargs="?", type=int, default=8080)
    parser.add_argument("--dir", default="site", help="the folder to serve (default: site, from scripts/build-web)")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.dir, "index.html")):
        sys.exit(f"serve.py: {args.dir}/index.html not found: run scripts/build-web (or node scripts/package-web.mjs) first")
    Handler.root = args.dir
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler) as server:
        print(f"Digit Lab: http://127.0.0.1:{args.port}/ (serving {args.dir}/)", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
