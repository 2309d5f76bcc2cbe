package s3test

// BucketName is bucketName for the tests.
var BucketName = bucketName
