// ISC license.
//
// node bench/mx-connect.js NODE_MODULES_DIR TARGET
//
// Calls the npm package mx-connect for TARGET with its defaults (the only
// option given is the target) and prints one line: "connected HOST ADDR:PORT
// in MS ms" or "error CODE MESSAGE after MS ms".  MS is measured inside node,
// from the call to the callback.  Used by bench/mxconnect.sh in the world.
'use strict';

const path = require('path');

if (process.argv.length !== 4) {
    console.error('usage: node mx-connect.js NODE_MODULES_DIR TARGET');
    process.exit(64);
}
const mxConnect = require(path.join(process.argv[2], 'mx-connect'));
const t0 = process.hrtime.bigint();

mxConnect({ target: process.argv[3] }, (err, conn) => {
    const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
    if (err) {
        console.log(`error ${err.code || '-'} ${err.message} after ${ms} ms`);
        process.exit(1);
    }
    console.log(`connected ${conn.hostname} ${conn.host}:${conn.port} in ${ms} ms`);
    conn.socket.destroy();
    process.exit(0);
});
