// Starts, then dies: pm2 restarts it again and again (a crash loop).
console.log("starting, about to crash");
setTimeout(() => process.exit(1), 300);
