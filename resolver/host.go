package resolver

import (
	"net"
	"strings"
)

// NormalizeHost returns host (an HTTP Host header or URL host) in the form
// the resolver compares: lower case, without a port, without the trailing
// dot of a fully qualified name, IPv6 literals without their brackets. It
// returns "" for a host that cannot be one (empty, malformed brackets, a
// space or a control character, an empty label).
func NormalizeHost(host string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return ""
	}
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return ""
		}
		rest := host[end+1:]
		if rest != "" && (rest[0] != ':' || !allDigits(rest[1:])) {
			return ""
		}
		ip := net.ParseIP(host[1:end])
		if ip == nil || ip.To4() != nil && !strings.Contains(host[1:end], ":") {
			return ""
		}
		return strings.ToLower(ip.String())
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if strings.Count(host, ":") > 1 {
			// A bare IPv6 literal: no port can be told apart.
			if ip := net.ParseIP(host); ip != nil {
				return strings.ToLower(ip.String())
			}
			return ""
		}
		if !allDigits(host[i+1:]) {
			return ""
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return ""
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c <= ' ' || c == 0x7f || c == '/' || c == '\\' || c == '@' {
			return ""
		}
	}
	host = strings.ToLower(host)
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return ""
		}
	}
	return host
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isIP reports whether a normalized host is an IP address.
func isIP(host string) bool { return net.ParseIP(host) != nil }
