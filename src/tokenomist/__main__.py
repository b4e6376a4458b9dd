from tokenomist.cli.app import main

main()
