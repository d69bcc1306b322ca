// ISC license.
//
// node bench/nodemailer.js NODE_MODULES_DIR HOST PORT COUNT [FILE]
//
// Sends COUNT messages with the npm package nodemailer to HOST:PORT (no
// TLS, no auth) and prints "sent N in MS ms".  COUNT 1: one message with a
// fresh transport (the per-process case); COUNT > 1: one pooled transport
// (pool: true, one connection), messages sent one after another.  FILE:
// the raw message to send (default: a small generated one).  Used by
// bench/smtpsend.sh in the test world.
'use strict';

const fs = require('fs');
const path = require('path');

if (process.argv.length < 6) {
    console.error('usage: node nodemailer.js NODE_MODULES HOST PORT COUNT [FILE]');
    process.exit(64);
}
const nodemailer = require(path.join(process.argv[2], 'nodemailer'));
const host = process.argv[3];
const port = Number(process.argv[4]);
const count = Number(process.argv[5]);
const raw = process.argv[6] ? fs.readFileSync(process.argv[6]) :
    'From: bench@example.test\r\nTo: sink@example.test\r\nSubject: bench\r\n\r\nhello\r\n';
const t = nodemailer.createTransport({
    host, port, secure: false, ignoreTLS: true,
    pool: count > 1, maxConnections: 1, maxMessages: Infinity,
});
const env = { from: 'bench@example.test', to: ['sink@example.test'] };
const t0 = process.hrtime.bigint();

(async () => {
    for (let i = 0; i < count; i++)
        await t.sendMail({ envelope: env, raw });
    const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
    console.log(`sent ${count} in ${ms} ms`);
    t.close();
    process.exit(0);
})().catch((err) => {
    console.log(`error ${err.message}`);
    process.exit(1);
});
