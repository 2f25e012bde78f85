#!/bin/sh
rm -rf "/tmp/staging/{{ yesterday_ds_nodash }}"
