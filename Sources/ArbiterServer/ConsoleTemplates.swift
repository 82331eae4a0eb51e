import Mustache

/// The console's Mustache templates, compiled into the binary (no resource files to ship).
/// `{{x}}` escapes HTML; only `layout` inserts pre-rendered HTML, with `{{{content}}}`.
enum ConsoleTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in templates { try library.register(text, named: name) }
        return library
    }

    static let templates: [(String, String)] = [("layout", layout), ("sign-in", signIn), ("queues", queues), ("queue", queue),
                                                ("review", review), ("message", message)]

    static let layout = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · Arbiter</title>
    <style>
      body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
      header { background: #1f3a5f; color: #fff; padding: 10px 24px; display: flex; align-items: center; gap: 24px; }
      header a { color: #fff; text-decoration: none; font-weight: 600; }
      header .who { margin-left: auto; display: flex; gap: 12px; align-items: center; }
      main { max-width: 1100px; margin: 24px auto; padding: 0 24px; }
      h1 { font-size: 22px; margin: 0 0 16px; }
      h2 { font-size: 16px; margin: 0 0 8px; }
      section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 16px; margin-bottom: 16px; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eceff2; vertical-align: top; }
      th { font-size: 13px; color: #56606b; font-weight: 600; }
      .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
      .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e6ebf1; }
      .badge.open { background: #e3f0ff; } .badge.claimed { background: #fff3d6; } .badge.escalated { background: #ffe0cc; }
      .badge.approved { background: #d9f5e1; } .badge.rejected { background: #fde0e0; }
      .overdue { color: #b3261e; font-weight: 700; }
      .notice { background: #e3f6e8; border: 1px solid #9fd8ae; padding: 10px 14px; border-radius: 6px; margin-bottom: 16px; }
      .error { background: #fde8e7; border: 1px solid #f0a9a4; padding: 10px 14px; border-radius: 6px; margin-bottom: 16px; }
      form.inline { display: inline; }
      textarea, input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 6px 8px; font: inherit;
        border: 1px solid #c3cad2; border-radius: 4px; }
      button { font: inherit; padding: 6px 14px; border-radius: 4px; border: 1px solid #1f3a5f; background: #1f3a5f; color: #fff; cursor: pointer; }
      button.secondary { background: #fff; color: #1f3a5f; }
      button.danger { background: #b3261e; border-color: #b3261e; }
      .actions { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 16px; }
      .muted { color: #56606b; font-size: 13px; }
      nav.tabs a { margin-right: 14px; } nav.tabs a.current { font-weight: 700; text-decoration: none; color: #1d232a; }
    </style>
    </head>
    <body>
    <header>
      <a href="/console/queues">Arbiter review</a>
      {{#user}}
      <div class="who">
        <span>Signed in as <strong id="signed-in-as">{{name}}</strong> ({{role}})</span>
        <form class="inline" method="post" action="/console/sign-out">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <button class="secondary" id="sign-out">Sign out</button>
        </form>
      </div>
      {{/user}}
    </header>
    <main>
    {{{content}}}
    </main>
    </body>
    </html>
    """

    static let signIn = """
    <section style="max-width: 420px; margin: 40px auto;">
      <h1>Sign in</h1>
      {{#error}}<div class="error" id="error">{{error}}</div>{{/error}}
      <form method="post" action="/console/sign-in">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label for="key">Your API key</label><br>
        <input type="password" id="key" name="key" autocomplete="off" required></p>
        <button id="sign-in">Sign in</button>
      </form>
      <p class="muted">Ask an administrator for a reviewer key. Your key stays on this server; the browser keeps only a session cookie.</p>
    </section>
    """

    static let queues = """
    <h1>Review queues</h1>
    <section>
    {{#empty}}<p>No queues yet: nothing has been sent to review.</p>{{/empty}}
    {{^empty}}
    <table id="queues">
      <tr><th>Queue</th><th>Waiting</th><th>Open</th><th>Claimed</th><th>Escalated</th><th>Overdue</th><th>Oldest waiting</th></tr>
      {{#queues}}
      <tr>
        <td><a href="/console/queues/{{path}}" class="queue-link">{{name}}</a></td>
        <td>{{waiting}}</td><td>{{open}}</td><td>{{claimed}}</td><td>{{escalated}}</td>
        <td>{{#isOverdue}}<span class="overdue">{{overdue}} overdue</span>{{/isOverdue}}{{^isOverdue}}0{{/isOverdue}}</td>
        <td>{{oldest}}</td>
      </tr>
      {{/queues}}
    </table>
    {{/empty}}
    </section>
    """

    static let queue = """
    <p><a href="/console/queues">← All queues</a></p>
    <h1>Queue: {{name}}</h1>
    <nav class="tabs">{{#tabs}}<a href="{{href}}" {{#current}}class="current"{{/current}}>{{label}}</a>{{/tabs}}</nav>
    <section>
    {{#empty}}<p>No items here.</p>{{/empty}}
    {{^empty}}
    <table id="items">
      <tr><th>Request</th><th>Account</th><th>Amount</th><th>Why</th><th>State</th><th>Approvals</th><th>Waiting for</th><th>Due</th><th></th></tr>
      {{#items}}
      <tr>
        <td>{{type}}</td><td>{{account}}</td><td>{{amount}}</td><td>{{reason}}</td>
        <td><span class="badge {{state}}">{{state}}</span>{{#claimedBy}}<br><span class="muted">by {{claimedBy}}</span>{{/claimedBy}}</td>
        <td>{{approvals}}</td><td>{{age}}</td>
        <td>{{#overdue}}<span class="overdue">Overdue</span><br>{{/overdue}}{{due}}</td>
        <td><a href="/console/reviews/{{id}}" class="open-item">Open</a></td>
      </tr>
      {{/items}}
    </table>
    {{#more}}<p class="muted">Showing the oldest 200.</p>{{/more}}
    {{/empty}}
    </section>
    """

    static let review = """
    <p><a href="/console/queues/{{queuePath}}">← Queue {{queue}}</a></p>
    <h1>{{title}} {{#amount}}· {{amount}}{{/amount}} <span class="badge {{state}}" id="state">{{stateTitle}}</span></h1>
    {{#notice}}<div class="notice" id="notice">{{notice}}</div>{{/notice}}
    {{#error}}<div class="error" id="error">{{error}}</div>{{/error}}
    <section>
      <p>Queue <strong>{{queue}}</strong>{{#escalatedFrom}} (escalated from {{escalatedFrom}}){{/escalatedFrom}} ·
      due {{#overdue}}<span class="overdue">{{due}} — overdue</span>{{/overdue}}{{^overdue}}{{due}}{{/overdue}} ·
      <span id="approvals">{{approvalsText}}</span>
      {{#claimedBy}} · claimed by <strong>{{claimedBy}}</strong>{{#claimExpires}} until {{claimExpires}}{{/claimExpires}}{{/claimedBy}}</p>
    </section>
    {{#waiting}}{{#canAct}}
    <section>
      <h2>Decide</h2>
      <p>
      {{#unclaimed}}<form class="inline" method="post" action="/console/reviews/{{id}}/claim"><input type="hidden" name="csrf" value="{{csrf}}"><button id="claim">Claim this item</button></form>{{/unclaimed}}
      {{#claimedByMe}}<form class="inline" method="post" action="/console/reviews/{{id}}/release"><input type="hidden" name="csrf" value="{{csrf}}"><button class="secondary" id="release">Release</button></form>{{/claimedByMe}}
      </p>
      <div class="actions">
        <form method="post" action="/console/reviews/{{id}}/approve">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <p><label for="approve-comment">Comment (optional)</label><textarea id="approve-comment" name="comment" rows="3"></textarea></p>
          <button id="approve">Approve{{#proposedAmount}} {{proposedAmount}}{{/proposedAmount}}</button>
        </form>
        {{#hasMoney}}
        <form method="post" action="/console/reviews/{{id}}/approve-lower">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <p><label for="amount">Approve a lower amount ({{currency}})</label><input type="text" id="amount" name="amount" placeholder="{{amountPlaceholder}}" inputmode="decimal"></p>
          <p><label for="lower-comment">Comment</label><textarea id="lower-comment" name="comment" rows="1"></textarea></p>
          <button id="approve-lower">Approve this amount</button>
        </form>
        {{/hasMoney}}
        <form method="post" action="/console/reviews/{{id}}/reject">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <p><label for="reject-comment">Why reject? (required)</label><textarea id="reject-comment" name="comment" rows="3"></textarea></p>
          <button class="danger" id="reject">Reject</button>
        </form>
      </div>
    </section>
    {{/canAct}}{{/waiting}}
    <div class="grid">
      <section>
        <h2>The request</h2>
        <table id="request">{{#request}}<tr><th>{{label}}</th><td>{{value}}</td></tr>{{/request}}</table>
      </section>
      <section>
        <h2>Why it needs a person</h2>
        <ul id="reasons">{{#reasons}}<li>{{text}}</li>{{/reasons}}</ul>
        <table id="verdicts">{{#policies}}<tr><th>{{name}}</th><td>{{outcome}}: {{reasons}}{{#policyError}} <span class="overdue">(policy error)</span>{{/policyError}}</td></tr>{{/policies}}</table>
      </section>
      <section>
        <h2>The account when it was decided</h2>
        <table id="account">{{#account}}<tr><th>{{label}}</th><td>{{value}}</td></tr>{{/account}}</table>
      </section>
      <section>
        <h2>Its history</h2>
        <table>{{#history}}<tr><th>{{label}}</th><td>{{value}}</td></tr>{{/history}}</table>
      </section>
    </div>
    <section>
      <h2>What approval sends to the ERP</h2>
      {{^hasProposed}}<p>Nothing: approving records the decision only.</p>{{/hasProposed}}
      {{#hasProposed}}<table id="proposed"><tr><th>Action</th><th>Amount</th><th>Details</th></tr>
      {{#proposed}}<tr><td>{{title}}</td><td>{{amount}}</td><td>{{details}}</td></tr>{{/proposed}}</table>{{/hasProposed}}
      {{#hasQueued}}<h2 style="margin-top: 12px;">Queued for the ERP</h2>
      <table id="queued"><tr><th>Action</th><th>Amount</th><th>Delivery</th></tr>
      {{#queued}}<tr><td>{{title}}</td><td>{{amount}}</td><td>{{status}}</td></tr>{{/queued}}</table>{{/hasQueued}}
    </section>
    <section>
      <h2>History</h2>
      {{^hasEvents}}<p>Nobody has worked this item yet.</p>{{/hasEvents}}
      {{#hasEvents}}<table id="history"><tr><th>When</th><th>Who</th><th>What</th><th>Comment</th></tr>
      {{#events}}<tr><td>{{at}}</td><td>{{who}}</td><td>{{what}}</td><td>{{comment}}</td></tr>{{/events}}</table>{{/hasEvents}}
    </section>
    """

    static let message = """
    <section><p>{{message}}</p><p><a href="/console/queues">Back to the queues</a></p></section>
    """
}
