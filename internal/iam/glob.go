package iam

// A pattern is a compiled match expression: literal bytes, "*" (any run,
// possibly empty) and "?" (exactly one byte). Wildcards only come from the
// policy text: a value substituted for a policy variable (${jwt:sub}) is
// always literal, so a claim that contains "*" cannot widen a grant.
type pattern []pchar

type pchar struct {
	c    byte
	kind uint8 // pLit, pStar, pOne
}

const (
	pLit uint8 = iota
	pStar
	pOne
)

// appendText adds policy text, where * and ? are wildcards.
func (p pattern) appendText(s string, fold bool) pattern {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			p = append(p, pchar{kind: pStar})
		case '?':
			p = append(p, pchar{kind: pOne})
		default:
			if fold {
				c = lower(c)
			}
			p = append(p, pchar{c: c})
		}
	}
	return p
}

// appendLiteral adds text that matches only itself.
func (p pattern) appendLiteral(s string, fold bool) pattern {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if fold {
			c = lower(c)
		}
		p = append(p, pchar{c: c})
	}
	return p
}

// match reports whether s matches p, in O(len(s) * stars) without
// recursion, so a hostile pattern cannot blow up.
func (p pattern) match(s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		c := s[si]
		if fold {
			c = lower(c)
		}
		switch {
		case pi < len(p) && (p[pi].kind == pOne || (p[pi].kind == pLit && p[pi].c == c)):
			pi++
			si++
		case pi < len(p) && p[pi].kind == pStar:
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == pStar {
		pi++
	}
	return pi == len(p)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
