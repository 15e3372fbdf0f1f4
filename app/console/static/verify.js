// 核销: scan a code with the device camera where the browser's BarcodeDetector reads QR
// codes (feature-detected; manual entry is the main path and works everywhere).
(function () {
  "use strict";
  var stream = null;
  var timer = null;
  var canScan = false; // this browser's BarcodeDetector reads QR codes

  function panel() { return document.getElementById("verify-panel"); }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (tr) { tr.stop(); }); stream = null; }
    var root = panel();
    if (!root) return;
    var video = root.querySelector("[data-scan-video]");
    if (video) { video.hidden = true; video.srcObject = null; }
    var start = root.querySelector("[data-scan-start]");
    var stopBtn = root.querySelector("[data-scan-stop]");
    if (start) start.hidden = !canScan;
    if (stopBtn) stopBtn.hidden = true;
  }

  function submitCode(value) {
    var input = document.getElementById("f-code");
    if (!input) return;
    input.value = value;
    var form = input.form;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function start() {
    var root = panel();
    var video = root.querySelector("[data-scan-video]");
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        root.querySelector("[data-scan-start]").hidden = true;
        root.querySelector("[data-scan-stop]").hidden = false;
        return video.play();
      })
      .then(function () {
        timer = setInterval(function () {
          detector.detect(video).then(function (codes) {
            if (codes.length) { var raw = codes[0].rawValue; stop(); submitCode(raw); }
          }).catch(function () { /* a frame that cannot be read: try the next */ });
        }, 300);
      })
      .catch(function () { stop(); });
  }

  function wire() {
    var root = panel();
    if (!root) return;
    var startBtn = root.querySelector("[data-scan-start]");
    var stopBtn = root.querySelector("[data-scan-stop]");
    if (!startBtn) return;
    startBtn.addEventListener("click", start);
    stopBtn.addEventListener("click", stop);
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      canScan = formats.indexOf("qr_code") !== -1;
      startBtn.hidden = !canScan;
    }).catch(function () { /* no detector: manual entry only */ });
  }

  document.addEventListener("DOMContentLoaded", wire);
  // The panel is swapped after each try: wire its new buttons.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "verify-panel") { stop(); wire(); }
  });
})();
