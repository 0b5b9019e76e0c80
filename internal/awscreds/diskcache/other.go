//go:build !unix

package diskcache

import (
	"context"
	"errors"
	"os"
)

var errUnsupported = errors.New("the credential cache needs a Unix system (file owners and modes); use --no-cache")

func ownedByMe(os.FileInfo) error { return errUnsupported }

func openNoFollow(string) (*os.File, error) { return nil, errUnsupported }

func (c *Cache) lock(context.Context, string) (func(), error) { return nil, errUnsupported }
