package s3test

import "errors"

// ErrNoBinary is returned by Binary and New when versitygw is not built.
var ErrNoBinary = errors.New("versitygw is not built")
