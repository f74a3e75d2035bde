// handconv explain page: renders the trace embedded as JSON in #trace-data.
// All user text (labels, file names, kernel names) goes through textContent, never parsed as HTML.
(function () {
  "use strict";

  var T = JSON.parse(document.getElementById("trace-data").textContent);
  var cfg = T.config, labels = T.labels || {};
  var steps = T.steps || [];
  var Hp = T.padded_input.length, Wp = Hp ? T.padded_input[0].length : 0;
  var C = cfg.in_channels;
  var KH = cfg.filters_shape[0], KW = cfg.filters_shape[1], Cg = cfg.filters_shape[2];
  var Cout = cfg.out_channels, groups = cfg.groups || 1;
  var OH = cfg.output_hw[0], OW = cfg.output_hw[1];
  var perGroup = Cout / groups;

  // ------------------------------------------------------------ helpers
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function num(v) { return typeof v === "number" ? v : Number(v); } // "NaN", "Infinity" -> numbers
  // Compact cell text; the exact value is shown on hover and in the arithmetic.
  function fmt(v) {
    if (typeof v === "string") return { "NaN": "nan", "Infinity": "inf", "-Infinity": "-inf" }[v] || v;
    var a = Math.abs(v);
    if (Number.isInteger(v) && a < 1e5) return String(v);
    if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(1).replace("e+", "e");
    return String(Number(v.toPrecision(3)));
  }
  function exact(v) { return String(v); } // shortest round-trip text, like Python's repr
  function range(n) { var out = []; for (var i = 0; i < n; i++) out.push(i); return out; }
  function channelsOf(co) {
    var g = Math.floor(co / perGroup);
    return range(Cg).map(function (k) { return g * Cg + k; });
  }
  function outKey(oy, ox, co) { return (oy * OW + ox) * Cout + co; }

  // ------------------------------------------------------------ grids
  // A grid of H x W cells with marks (CSS classes) and hover/click callbacks. Small grids are DOM
  // cells with numbers; big ones (photos) are a canvas heat map with an overlay for the marks.
  var MARKS = ["rf", "cur", "dep", "hover"];
  function makeGrid(H, W, opts) {
    return (H * W > 576 || H > 24 || W > 24) ? canvasGrid(H, W, opts) : domGrid(H, W, opts);
  }
  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (k) { node.dataset[k] = attrs[k]; });
  }
  function domGrid(H, W, opts) {
    var grid = el("div", "grid " + (opts.cls || "") + (Math.max(H, W) > 10 ? " small" : ""));
    grid.style.gridTemplateColumns = "repeat(" + W + ", auto)";
    setAttrs(grid, opts.attrs);
    var cells = new Array(H * W), frag = document.createDocumentFragment();
    for (var r = 0; r < H; r++) {
      for (var c = 0; c < W; c++) {
        var cell = el("div", "cell", fmt(opts.value(r, c)));
        cell.dataset.r = r; cell.dataset.c = c;
        if (opts.isPad && opts.isPad(r, c)) cell.classList.add("pad");
        cells[r * W + c] = cell;
        frag.appendChild(cell);
      }
    }
    grid.appendChild(frag);
    var marked = {};
    function at(event) {
      var cell = event.target.closest ? event.target.closest(".cell") : null;
      return cell && grid.contains(cell) ? [+cell.dataset.r, +cell.dataset.c] : null;
    }
    grid.addEventListener("mouseover", function (e) { var p = at(e); if (p && opts.onHover) opts.onHover(p[0], p[1]); });
    grid.addEventListener("mouseleave", function () { if (opts.onLeave) opts.onLeave(); });
    grid.addEventListener("click", function (e) { var p = at(e); if (p && opts.onClick) opts.onClick(p[0], p[1]); });
    return {
      node: grid,
      cell: function (r, c) { return cells[r * W + c]; },
      mark: function (cls, list) {
        marked[cls] = (marked[cls] || []);
        list.forEach(function (p) {
          var cell = cells[p[0] * W + p[1]];
          if (cell) { cell.classList.add(cls); marked[cls].push(cell); }
        });
      },
      clear: function (cls) {
        (marked[cls] || []).forEach(function (cell) { cell.classList.remove(cls); });
        marked[cls] = [];
      },
    };
  }
  var CANVAS_COLOURS = { rf: "rgba(31,111,229,0.55)", cur: "rgba(255,190,40,0.85)",
                         dep: "rgba(224,84,44,0.6)", hover: "rgba(224,84,44,0.95)" };
  function canvasGrid(H, W, opts) {
    var scale = Math.max(1, Math.min(12, Math.floor(520 / Math.max(H, W))));
    var wrap = el("div", "canvas-wrap " + (opts.cls || ""));
    setAttrs(wrap, opts.attrs);
    var base = el("canvas"), overlay = el("canvas", "overlay");
    [base, overlay].forEach(function (cv) {
      cv.width = W * scale; cv.height = H * scale;
      cv.style.width = W * scale + "px"; cv.style.height = H * scale + "px";
    });
    // Heat map: grey levels from the finite min to max of this grid; padding tinted violet.
    var lo = Infinity, hi = -Infinity, r, c, v;
    for (r = 0; r < H; r++) for (c = 0; c < W; c++) {
      v = num(opts.value(r, c));
      if (isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    var span = hi > lo ? hi - lo : 1, small = el("canvas");
    small.width = W; small.height = H;
    var sctx = small.getContext("2d"), img = sctx.createImageData(W, H);
    for (r = 0; r < H; r++) for (c = 0; c < W; c++) {
      var i = 4 * (r * W + c), rgb;
      v = num(opts.value(r, c));
      if (opts.isPad && opts.isPad(r, c)) rgb = [150, 140, 190];
      else if (!isFinite(v)) rgb = [220, 0, 120];
      else { var g = Math.round(25 + 215 * (v - lo) / span); rgb = [g, g, g]; }
      if (opts.dim && opts.dim(r, c)) rgb = rgb.map(function (x) { return Math.round(0.35 * x + 80); });
      img.data[i] = rgb[0]; img.data[i + 1] = rgb[1]; img.data[i + 2] = rgb[2]; img.data[i + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    var ctx = base.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, W * scale, H * scale);
    wrap.appendChild(base); wrap.appendChild(overlay);
    var octx = overlay.getContext("2d"), marks = {}, last = null;
    function redraw() {
      octx.clearRect(0, 0, overlay.width, overlay.height);
      MARKS.forEach(function (cls) {
        octx.fillStyle = CANVAS_COLOURS[cls];
        (marks[cls] || []).forEach(function (p) { octx.fillRect(p[1] * scale, p[0] * scale, scale, scale); });
      });
    }
    function at(e) {
      var rect = base.getBoundingClientRect();
      var rr = Math.floor((e.clientY - rect.top) / scale), cc = Math.floor((e.clientX - rect.left) / scale);
      return rr >= 0 && rr < H && cc >= 0 && cc < W ? [rr, cc] : null;
    }
    wrap.addEventListener("mousemove", function (e) {
      var p = at(e);
      if (p && (!last || p[0] !== last[0] || p[1] !== last[1])) { last = p; if (opts.onHover) opts.onHover(p[0], p[1]); }
    });
    wrap.addEventListener("mouseleave", function () { last = null; if (opts.onLeave) opts.onLeave(); });
    wrap.addEventListener("click", function (e) { var p = at(e); if (p && opts.onClick) opts.onClick(p[0], p[1]); });
    return {
      node: wrap,
      cell: function () { return null; },
      mark: function (cls, list) { marks[cls] = (marks[cls] || []).concat(list); redraw(); },
      clear: function (cls) { if ((marks[cls] || []).length) { marks[cls] = []; redraw(); } },
    };
  }

  // ------------------------------------------------------------ indexes
  var stepAt = new Int32Array(Math.max(OH * OW * Cout, 1)).fill(-1);
  steps.forEach(function (s, i) { stepAt[outKey(s.oy, s.ox, s.co)] = i; });
  var feedsIndex = null; // padded cell -> steps reading it, built on first hover
  function stepsReading(r, c) {
    if (!feedsIndex) {
      feedsIndex = new Map();
      steps.forEach(function (s, i) {
        s.rows.forEach(function (rr) {
          s.cols.forEach(function (cc) {
            var key = rr * Wp + cc, list = feedsIndex.get(key);
            if (!list) feedsIndex.set(key, list = []);
            list.push(i);
          });
        });
      });
    }
    return feedsIndex.get(r * Wp + c) || [];
  }
  var byChannel = null; // output channel -> its steps
  function stepsOfChannel(co) {
    if (!byChannel) {
      byChannel = range(Cout).map(function () { return []; });
      steps.forEach(function (s) { byChannel[s.co].push(s); });
    }
    return byChannel[co];
  }

  // ------------------------------------------------------------ header
  var title = labels.title || "handconv explain";
  document.getElementById("title").textContent = title;
  document.title = title + " \u2014 handconv explain";
  var configBox = document.getElementById("config");
  function configItem(name, value) {
    var item = el("div");
    item.appendChild(el("span", "", name + " "));
    item.appendChild(el("code", "", value));
    configBox.appendChild(item);
  }
  var pads = cfg.pad_amounts;
  configItem("input", cfg.input_shape.join("\u00d7") + " " + cfg.data_format);
  configItem("filters", cfg.filters_shape.join("\u00d7") + " (KH\u00d7KW\u00d7C/groups\u00d7C_out)");
  configItem("stride", cfg.strides.join("\u00d7"));
  configItem("dilation", cfg.dilations.join("\u00d7"));
  configItem("padding", cfg.padding + " (top " + pads[0][0] + ", bottom " + pads[0][1] +
             ", left " + pads[1][0] + ", right " + pads[1][1] + ")");
  if (groups > 1) configItem("groups", String(groups));
  configItem("output height", cfg.formulas[0]);
  configItem("output width", cfg.formulas[1]);

  // ------------------------------------------------------------ volumes
  var inputColumn = document.getElementById("input-column");
  var filterColumn = document.getElementById("filter-column");
  var outputColumn = document.getElementById("output-column");
  inputColumn.appendChild(el("h2", "", "Input volume"));
  inputColumn.appendChild(el("div", "sub", labels.input || ""));
  inputColumn.appendChild(el("div", "sub", Hp + "\u00d7" + Wp + "\u00d7" + C + " padded" +
    (pads[0][0] + pads[0][1] + pads[1][0] + pads[1][1] ? ", padding hatched" : "")));
  var inputGrids = range(C).map(function (ch) {
    var block = el("div", "block chan-block");
    block.dataset.ch = ch;
    block.appendChild(el("h3", "", "x[:, :, " + ch + "]"));
    var grid = makeGrid(Hp, Wp, {
      cls: "input", attrs: { grid: "input", ch: ch },
      value: function (r, c) { return T.padded_input[r][c][ch]; },
      isPad: function (r, c) { return T.is_padding[r][c]; },
      onHover: function (r, c) { hoverInput(r, c, ch); },
      onLeave: clearDependencies,
    });
    block.appendChild(grid.node);
    inputColumn.appendChild(block);
    return grid;
  });

  filterColumn.appendChild(el("h2", "", "Filters and biases"));
  filterColumn.appendChild(el("div", "sub", Cout + " filter(s) W0\u2026W" + (Cout - 1) + ", " +
                              KH + "\u00d7" + KW + "\u00d7" + Cg + " each"));
  var filterBlocks = [], filterGrids = [];
  range(Cout).forEach(function (co) {
    var block = el("div", "filter-block");
    block.dataset.co = co;
    var head = el("h3", "", "Filter W" + co + " ");
    head.appendChild(el("span", "label", (labels.filters || [])[co] || ""));
    block.appendChild(head);
    filterGrids[co] = channelsOf(co).map(function (ch, k) {
      var sub = el("div", "block chan-block");
      sub.dataset.ch = ch;
      sub.appendChild(el("div", "label", "W" + co + "[:, :, " + k + "] \u00d7 x[:, :, " + ch + "]"));
      var grid = makeGrid(KH, KW, {
        cls: "filter", attrs: { grid: "filter", co: co, k: k },
        value: function (i, j) { return T.filters[i][j][k][co]; },
        onHover: function (i, j) { hoverWeight(i, j, k, co); },
        onLeave: clearDependencies,
      });
      sub.appendChild(grid.node);
      block.appendChild(sub);
      return grid;
    });
    var bias = el("p", "bias", "b" + co + " = " + fmt(T.bias[co]));
    bias.dataset.co = co;
    bias.title = "bias b" + co + " = " + exact(T.bias[co]);
    block.appendChild(bias);
    filterColumn.appendChild(block);
    filterBlocks[co] = block;
  });

  outputColumn.appendChild(el("h2", "", "Output volume"));
  outputColumn.appendChild(el("div", "sub", OH + "\u00d7" + OW + "\u00d7" + Cout));
  var outputGrids = range(Cout).map(function (co) {
    var block = el("div", "block");
    block.appendChild(el("h3", "", "o[:, :, " + co + "] = x \u2217 W" + co + " + b" + co));
    var grid = makeGrid(OH, OW, {
      cls: "output", attrs: { grid: "output", co: co },
      value: function (r, c) { return T.output[r][c][co]; },
      dim: function (r, c) { return stepAt[outKey(r, c, co)] < 0; },
      onHover: function (r, c) { preview(r, c, co); },
      onLeave: function () { show(current); info.textContent = defaultInfo; },
      onClick: function (r, c) { selectOutput(r, c, co); },
    });
    if (grid.cell(0, 0)) {
      for (var r = 0; r < OH; r++) for (var c = 0; c < OW; c++)
        if (stepAt[outKey(r, c, co)] < 0) grid.cell(r, c).classList.add("unexplained");
    }
    block.appendChild(grid.node);
    outputColumn.appendChild(block);
    return grid;
  });

  // ------------------------------------------------------------ the current step
  var current = 0, timer = null;
  var info = document.getElementById("info"), defaultInfo = info.textContent;
  var slider = document.getElementById("slider");
  slider.max = Math.max(steps.length - 1, 0);

  function clearSteps() {
    inputGrids.forEach(function (g) { g.clear("rf"); });
    outputGrids.forEach(function (g) { g.clear("cur"); });
    filterBlocks.forEach(function (b) { b.classList.remove("active"); });
  }
  function show(index) {
    if (mode === "backward") return;
    clearSteps();
    var s = steps[index];
    if (!s) {
      document.getElementById("position").textContent = "no output explained";
      return;
    }
    var taps = [];
    s.rows.forEach(function (r) { s.cols.forEach(function (c) { taps.push([r, c]); }); });
    s.channels.forEach(function (ch) { inputGrids[ch].mark("rf", taps); });
    outputGrids[s.co].mark("cur", [[s.oy, s.ox]]);
    filterBlocks[s.co].classList.add("active");
    document.getElementById("position").textContent =
      "step " + (index + 1) + "/" + steps.length + " \u00b7 o[" + s.oy + ", " + s.ox + ", " + s.co + "]";
    slider.value = index;
    showArithmetic(s);
  }
  var productGrids = [];
  function showArithmetic(s) {
    document.getElementById("math-head").textContent =
      "o[" + s.oy + ", " + s.ox + ", " + s.co + "] = \u03a3 x[rows " + s.rows.join(",") + "; cols " +
      s.cols.join(",") + "] \u00b7 W" + s.co + " + b" + s.co;
    var box = document.getElementById("products");
    box.textContent = "";
    productGrids = [];
    if (KH * KW <= 49 && s.channels.length <= 8) {
      s.channels.forEach(function (ch, k) {
        var block = el("div", "chan-block");
        block.dataset.ch = ch;
        block.appendChild(el("div", "label", "products, channel " + ch));
        var grid = domGrid(KH, KW, { cls: "products", attrs: { grid: "products", k: k },
                                     value: function (i, j) { return s.products[i][j][k]; } });
        productGrids[k] = grid;
        block.appendChild(grid.node);
        box.appendChild(block);
      });
    }
    document.getElementById("arithmetic").textContent = s.arithmetic;
    var table = document.getElementById("sums");
    table.textContent = "";
    function row(name, value) {
      var tr = el("tr");
      tr.appendChild(el("td", "", name));
      tr.appendChild(el("td", "", value));
      table.appendChild(tr);
    }
    s.channels.forEach(function (ch, k) { row("channel " + ch + " sum", exact(s.channel_sums[k])); });
    row("bias b" + s.co, exact(s.bias));
    document.getElementById("total").textContent = exact(s.total);
    applyChannel();
  }
  function go(index) {
    if (!steps.length) { show(-1); return; }
    current = ((index % steps.length) + steps.length) % steps.length;
    show(current);
  }
  function preview(oy, ox, co) {
    if (mode === "backward") return;
    var i = stepAt[outKey(oy, ox, co)];
    if (i >= 0) { show(i); info.textContent = defaultInfo; }
    else info.textContent = "o[" + oy + ", " + ox + ", " + co + "] = " + exact(T.output[oy][ox][co]) +
      " is not explained in this trace (ask explain(..., at=(" + oy + ", " + ox + ")))";
  }
  function selectOutput(oy, ox, co) {
    var i = stepAt[outKey(oy, ox, co)];
    if (i >= 0) { pause(); go(i); }
  }

  // ------------------------------------------------------------ dependency maps
  function clearDependencies() {
    inputGrids.forEach(function (g) { g.clear("dep"); g.clear("hover"); });
    outputGrids.forEach(function (g) { g.clear("dep"); });
    filterGrids.forEach(function (gs) { gs.forEach(function (g) { g.clear("hover"); }); });
    productGrids.forEach(function (g) { g.clear("dep"); });
    info.textContent = defaultInfo;
  }
  function names(list) {
    var shown = list.slice(0, 8).join(", ");
    return list.length > 8 ? shown + ", \u2026 (" + list.length + ")" : shown;
  }
  function hoverInput(r, c, ch) {
    clearDependencies();
    inputGrids[ch].mark("hover", [[r, c]]);
    var perChannel = range(Cout).map(function () { return []; }), fed = [];
    stepsReading(r, c).forEach(function (i) {
      var s = steps[i];
      if (s.channels.indexOf(ch) >= 0) {
        perChannel[s.co].push([s.oy, s.ox]);
        fed.push("o[" + s.oy + ", " + s.ox + ", " + s.co + "]");
      }
    });
    perChannel.forEach(function (list, co) { if (list.length) outputGrids[co].mark("dep", list); });
    info.textContent = "x[" + r + ", " + c + ", " + ch + "] = " + exact(T.padded_input[r][c][ch]) +
      (T.is_padding[r][c] ? " (padding)" : "") + " feeds " +
      (fed.length ? fed.length + " output(s): " + names(fed) : "no explained output");
  }
  function hoverWeight(i, j, k, co) {
    clearDependencies();
    filterGrids[co][k].mark("hover", [[i, j]]);
    var inputs = range(C).map(function () { return []; }), outputs = [];
    stepsOfChannel(co).forEach(function (s) {
      inputs[s.channels[k]].push([s.rows[i], s.cols[j]]);
      outputs.push([s.oy, s.ox]);
    });
    inputs.forEach(function (list, ch) { if (list.length) inputGrids[ch].mark("dep", list); });
    outputGrids[co].mark("dep", outputs);
    var s = steps[current];
    if (s && s.co === co && productGrids[k]) productGrids[k].mark("dep", [[i, j]]);
    info.textContent = "W" + co + "[" + i + ", " + j + ", " + k + "] = " + exact(T.filters[i][j][k][co]) +
      " takes part in " + outputs.length + " product(s): one with each highlighted input value, " +
      "one per highlighted output of o[:, :, " + co + "]";
  }

  // ------------------------------------------------------------ controls
  var playButton = document.getElementById("play");
  function pause() { if (timer) { clearInterval(timer); timer = null; } playButton.textContent = "Play"; }
  function play() {
    if (timer || steps.length < 2) return;
    timer = setInterval(function () { go(current + 1); }, 800);
    playButton.textContent = "Pause";
  }
  playButton.addEventListener("click", function () { if (timer) pause(); else play(); });
  document.getElementById("prev").addEventListener("click", function () { pause(); go(current - 1); });
  document.getElementById("next").addEventListener("click", function () { pause(); go(current + 1); });
  slider.addEventListener("input", function () { pause(); go(+slider.value); });
  document.addEventListener("keydown", function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "ArrowRight") { pause(); go(current + 1); }
    else if (e.key === "ArrowLeft") { pause(); go(current - 1); }
    else if (e.key === "Home") { pause(); go(0); }
    else if (e.key === "End") { pause(); go(steps.length - 1); }
    else if (e.key === " " && tag !== "BUTTON") { if (timer) pause(); else play(); }
    else return;
    e.preventDefault();
  });

  var channelSelect = document.getElementById("channel");
  channelSelect.appendChild(el("option", "", "all")).value = "all";
  range(C).forEach(function (ch) { channelSelect.appendChild(el("option", "", String(ch))).value = String(ch); });
  function applyChannel() {
    var chosen = channelSelect.value;
    document.querySelectorAll(".chan-block").forEach(function (node) {
      node.classList.toggle("hidden", chosen !== "all" && node.dataset.ch !== chosen);
    });
  }
  channelSelect.addEventListener("change", applyChannel);

  // ------------------------------------------------------------ the backward pass
  // With T.backward (explain(..., out_backprop=dy)) the page has a forward/backward toggle. Backward shows
  // dy = dL/do in place of the output, the gradients dL/dW under the filters and dL/dx under the input;
  // clicking a weight (or its gradient) writes dL/dW[fy, fx, k, co] as the sum of x * dy over every output
  // position, clicking an input pixel writes dL/dx[n, y, x, c] as the sum of W * dy over every output it fed.
  // The terms are found here from the geometry (stride, dilation, padding); the totals are handconv's
  // backprop functions' (T.backward.grad_filters / grad_input), and the Python GradTrace writes the same sums.
  var B = T.backward || null, mode = "forward", selected = null;
  var SH = cfg.strides[0], SW = cfg.strides[1], DH = cfg.dilations[0], DW = cfg.dilations[1];
  var modeBox = document.getElementById("mode-toggle");
  var forwardButton = document.getElementById("mode-forward"), backwardButton = document.getElementById("mode-backward");
  var backwardNodes = [], forwardNodes = [], dxGrids = [], dwGrids = [], dyGrids = [];
  var FORWARD_INFO = defaultInfo;
  var BACKWARD_INFO = "Backward pass: click a filter weight (or its gradient dL/dW) to see dL/dW as the sum of " +
    "input × dy over every output position it touched; click an input pixel (or dL/dx) to see dL/dx as the " +
    "sum of weight × dy over every output it fed.";

  // Python's format_number (integers without ".0", else 4 significant digits) and term_text (negatives in parentheses).
  function pyNumber(v) {
    v = num(v);
    if (isNaN(v)) return "nan";
    if (!isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (v === Math.trunc(v) && Math.abs(v) < 1e15) return String(v === 0 ? 0 : v);
    var exponent = Math.floor(Math.log10(Math.abs(v)));
    if (exponent < -4 || exponent >= 4) {
      var parts = v.toExponential(3).split("e"), mantissa = parts[0].replace(/\.?0+$/, "");
      var e = Number(parts[1]);
      return mantissa + "e" + (e < 0 ? "-" : "+") + (Math.abs(e) < 10 ? "0" : "") + Math.abs(e);
    }
    return String(Number(v.toPrecision(4)));
  }
  function pyTerm(v) { var t = pyNumber(v); return t.charAt(0) === "-" ? "(" + t + ")" : t; }
  var MAX_TERMS_SHOWN = 64;
  function sumLine(terms) {
    var shown = terms.slice(0, MAX_TERMS_SHOWN).map(function (t) { return pyTerm(t.value) + "*" + pyTerm(t.grad); });
    var subtotal = terms.reduce(function (acc, t) { return acc + num(t.value) * num(t.grad); }, 0);
    var more = terms.length > MAX_TERMS_SHOWN ? " + ... (" + (terms.length - MAX_TERMS_SHOWN) + " more)" : "";
    return { text: shown.join(" + ") + more + " = " + pyNumber(subtotal), subtotal: subtotal };
  }

  function weightTerms(fy, fx, k, co) {
    var ch = channelsOf(co)[k], terms = [];
    for (var oy = 0; oy < OH; oy++) for (var ox = 0; ox < OW; ox++) {
      var r = oy * SH + fy * DH, c = ox * SW + fx * DW;
      terms.push({ oy: oy, ox: ox, co: co, r: r, c: c, ch: ch,
                   value: T.padded_input[r][c][ch], grad: B.out_backprop[oy][ox][co] });
    }
    return terms;
  }
  function pixelTerms(y, x, ch) {
    var r = y + pads[0][0], c = x + pads[1][0], g = Math.floor(ch / Cg), k = ch - g * Cg, groupsTerms = [];
    for (var co = g * perGroup; co < (g + 1) * perGroup; co++) {
      var terms = [];
      for (var oy = 0; oy < OH; oy++) {
        var dr = r - oy * SH;
        if (dr < 0 || dr % DH || dr / DH >= KH) continue;
        for (var ox = 0; ox < OW; ox++) {
          var dc = c - ox * SW;
          if (dc < 0 || dc % DW || dc / DW >= KW) continue;
          var fy = dr / DH, fx = dc / DW;
          terms.push({ oy: oy, ox: ox, co: co, fy: fy, fx: fx, k: k,
                       value: T.filters[fy][fx][k][co], grad: B.out_backprop[oy][ox][co] });
        }
      }
      if (terms.length) groupsTerms.push({ co: co, terms: terms });
    }
    return groupsTerms;
  }

  function clearBackward() {
    inputGrids.forEach(function (g) { g.clear("rf"); g.clear("cur"); });
    filterGrids.forEach(function (gs) { gs.forEach(function (g) { g.clear("rf"); g.clear("cur"); }); });
    dxGrids.forEach(function (g) { g.clear("cur"); });
    dwGrids.forEach(function (gs) { gs.forEach(function (g) { g.clear("cur"); }); });
    dyGrids.forEach(function (g) { g.clear("dep"); });
    filterBlocks.forEach(function (b) { b.classList.remove("active"); });
  }
  function showBackwardMath(head, lines, rows, total) {
    document.getElementById("math-head").textContent = head;
    document.getElementById("products").textContent = "";
    productGrids = [];
    document.getElementById("arithmetic").textContent = lines.join("\n");
    var table = document.getElementById("sums");
    table.textContent = "";
    rows.forEach(function (pair) {
      var tr = el("tr");
      tr.appendChild(el("td", "", pair[0]));
      tr.appendChild(el("td", "", pair[1]));
      table.appendChild(tr);
    });
    document.getElementById("total").textContent = exact(total);
    applyChannel();
  }
  function selectWeight(fy, fx, k, co) {
    if (!B) return;
    clearBackward();
    selected = ["filter", fy, fx, k, co];
    var terms = weightTerms(fy, fx, k, co), name = "dL/dW[" + [fy, fx, k, co].join(", ") + "]";
    inputGrids[terms.length ? terms[0].ch : channelsOf(co)[k]].mark("rf", terms.map(function (t) { return [t.r, t.c]; }));
    dyGrids[co].mark("dep", terms.map(function (t) { return [t.oy, t.ox]; }));
    filterGrids[co][k].mark("cur", [[fy, fx]]);
    dwGrids[co][k].mark("cur", [[fy, fx]]);
    filterBlocks[co].classList.add("active");
    var line = sumLine(terms);
    document.getElementById("position").textContent = "backward \u00b7 " + name;
    showBackwardMath(name + " = \u03a3 over output positions of x[rows, cols, " + channelsOf(co)[k] +
                     "] \u00b7 dy[:, :, " + co + "]",
                     [terms.length ? name + " = " + line.text : name + " = 0 (no output reads it)"],
                     [["products", String(terms.length)]], B.grad_filters[fy][fx][k][co]);
  }
  function selectPixel(y, x, ch) {
    if (!B) return;
    clearBackward();
    selected = ["input", y, x, ch];
    var groupsTerms = pixelTerms(y, x, ch), name = "dL/dx[" + [B.batch_index, y, x, ch].join(", ") + "]";
    inputGrids[ch].mark("cur", [[y + pads[0][0], x + pads[1][0]]]);
    dxGrids[ch].mark("cur", [[y, x]]);
    var lines = [], rows = [], subtotals = [];
    groupsTerms.forEach(function (group) {
      filterGrids[group.co][group.terms[0].k].mark("rf", group.terms.map(function (t) { return [t.fy, t.fx]; }));
      dyGrids[group.co].mark("dep", group.terms.map(function (t) { return [t.oy, t.ox]; }));
      filterBlocks[group.co].classList.add("active");
      var line = sumLine(group.terms);
      lines.push("output channel " + group.co + ": " + line.text);
      subtotals.push(line.subtotal);
      rows.push(["output channel " + group.co + " sum", exact(line.subtotal)]);
    });
    var total = B.grad_input[y][x][ch];
    if (!groupsTerms.length) lines = [name + " = 0 (no output reads it)"];
    else if (groupsTerms.length === 1) lines = [name + " = " + lines[0].split(": ").slice(1).join(": ")];
    else lines.push(name + " = " + subtotals.map(pyTerm).join(" + ") + " = " + pyNumber(total));
    document.getElementById("position").textContent = "backward \u00b7 " + name;
    showBackwardMath(name + " = \u03a3 over the outputs it fed of W \u00b7 dy", lines, rows, total);
  }

  function setMode(next) {
    if (!B) next = "forward";
    mode = next;
    document.body.dataset.mode = mode;
    forwardButton.setAttribute("aria-pressed", String(mode === "forward"));
    backwardButton.setAttribute("aria-pressed", String(mode === "backward"));
    // Its own class: the channel selector toggles "hidden" on the same blocks.
    backwardNodes.forEach(function (node) { node.classList.toggle("mode-hidden", mode !== "backward"); });
    forwardNodes.forEach(function (node) { node.classList.toggle("mode-hidden", mode === "backward"); });
    ["prev", "play", "next", "slider"].forEach(function (id) { document.getElementById(id).disabled = mode === "backward"; });
    pause();
    clearDependencies();
    defaultInfo = mode === "backward" ? BACKWARD_INFO : FORWARD_INFO;
    info.textContent = defaultInfo;
    if (mode === "forward") { clearBackward(); show(current); return; }
    clearSteps();
    if (!selected) selected = ["filter", 0, 0, 0, 0];
    if (selected[0] === "filter") selectWeight(selected[1], selected[2], selected[3], selected[4]);
    else selectPixel(selected[1], selected[2], selected[3]);
  }

  if (B) {
    var H0 = B.grad_input.length, W0 = H0 ? B.grad_input[0].length : 0;
    var dxHead = el("h2", "", "Input gradient dL/dx");
    inputColumn.appendChild(dxHead);
    backwardNodes.push(dxHead);
    dxGrids = range(C).map(function (ch) {
      var block = el("div", "block chan-block");
      block.dataset.ch = ch;
      block.appendChild(el("h3", "", "dL/dx[:, :, " + ch + "]"));
      var grid = makeGrid(H0, W0, { cls: "input", attrs: { grid: "dx", ch: ch },
        value: function (r, c) { return B.grad_input[r][c][ch]; },
        onClick: function (r, c) { selectPixel(r, c, ch); } });
      block.appendChild(grid.node);
      inputColumn.appendChild(block);
      backwardNodes.push(block);
      return grid;
    });
    dwGrids = range(Cout).map(function (co) {
      return channelsOf(co).map(function (ch, k) {
        var sub = el("div", "block chan-block");
        sub.dataset.ch = ch;
        sub.appendChild(el("div", "label", "dL/dW" + co + "[:, :, " + k + "]"));
        var grid = makeGrid(KH, KW, { cls: "filter", attrs: { grid: "dw", co: co, k: k },
          value: function (i, j) { return B.grad_filters[i][j][k][co]; },
          onClick: function (i, j) { selectWeight(i, j, k, co); } });
        sub.appendChild(grid.node);
        filterBlocks[co].appendChild(sub);
        backwardNodes.push(sub);
        return grid;
      });
    });
    var dyHead = el("h2", "", "Output gradient dL/do = dy (given)");
    outputColumn.appendChild(dyHead);
    backwardNodes.push(dyHead);
    dyGrids = range(Cout).map(function (co) {
      var block = el("div", "block");
      block.appendChild(el("h3", "", "dy[:, :, " + co + "]"));
      var grid = makeGrid(OH, OW, { cls: "output", attrs: { grid: "dy", co: co },
        value: function (r, c) { return B.out_backprop[r][c][co]; } });
      block.appendChild(grid.node);
      outputColumn.appendChild(block);
      backwardNodes.push(block);
      return grid;
    });
    // The forward output is hidden in backward mode: dy takes its place.
    Array.prototype.forEach.call(outputColumn.children, function (node) {
      if (backwardNodes.indexOf(node) < 0) forwardNodes.push(node);
    });
    // Clicking the input or a weight selects it in backward mode.
    inputGrids.forEach(function (grid, ch) {
      grid.node.addEventListener("click", function (e) {
        if (mode !== "backward") return;
        var cell = e.target.closest ? e.target.closest(".cell") : null;
        if (!cell) return;
        var y = +cell.dataset.r - pads[0][0], x = +cell.dataset.c - pads[1][0];
        if (y >= 0 && y < H0 && x >= 0 && x < W0) selectPixel(y, x, ch);
      });
    });
    filterGrids.forEach(function (grids, co) {
      grids.forEach(function (grid, k) {
        grid.node.addEventListener("click", function (e) {
          if (mode !== "backward") return;
          var cell = e.target.closest ? e.target.closest(".cell") : null;
          if (cell) selectWeight(+cell.dataset.r, +cell.dataset.c, k, co);
        });
      });
    });
    forwardButton.addEventListener("click", function () { setMode("forward"); });
    backwardButton.addEventListener("click", function () { setMode("backward"); });
  } else {
    modeBox.classList.add("hidden");
  }
  var view = T.view || null;
  if (B && view && view.at) selected = [view.grad].concat(view.at);

  go(0);
  setMode(B && view && view.mode === "backward" ? "backward" : "forward");
  document.body.dataset.ready = "1";
})();
